"""Webhook events: endpoints, their (encrypted) secrets, and every delivery accepted or rejected."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.runs import RunSpec

VerificationScheme = Literal["url_token", "standard_webhooks", "github", "stripe"]


class SealedSecret(msgspec.Struct, frozen=True, kw_only=True):
    """A secret as AES-GCM ciphertext (base64) plus the id of the key that sealed it."""

    ciphertext: str
    key_id: str
    hint: str = ""


class WebhookCreated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    webhook_id: str
    name: str
    prompt_template: str
    spec: RunSpec
    scheme: VerificationScheme
    secret: SealedSecret
    description: str = ""
    rate_per_minute: float = 60.0
    burst: int = 20


class WebhookUpdated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    webhook_id: str
    name: str
    prompt_template: str
    spec: RunSpec
    description: str = ""
    rate_per_minute: float = 60.0
    burst: int = 20


class WebhookEnabled(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    webhook_id: str


class WebhookDisabled(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    webhook_id: str


class WebhookSecretRotated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    webhook_id: str
    secret: SealedSecret
    previous_valid_until: float


class WebhookDeleted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    webhook_id: str


class WebhookReceived(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A verified, deduplicated delivery. Headers are stored with secrets masked."""

    webhook_id: str
    delivery_id: str
    dedupe_key: str
    run_id: str
    headers: dict[str, str]
    body: str
    body_is_json: bool
    verification: str
    source: str = ""
    replay_of: str | None = None


class WebhookRejected(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A delivery that failed verification or limits. Never carries the body."""

    webhook_id: str
    reason: str
    status: int
    source: str = ""
    headers: dict[str, str] = {}


WebhookEvent = (
    WebhookCreated
    | WebhookUpdated
    | WebhookEnabled
    | WebhookDisabled
    | WebhookSecretRotated
    | WebhookDeleted
    | WebhookReceived
    | WebhookRejected
)
