"""Webhook deliveries as data: stream names, derived ids, the public view of an endpoint and the
pure decision of the ingest pipeline (which stream and event a verified delivery gets).

Ids are derived, never random, wherever a duplicate must be impossible: the delivery id from the
dedupe key, the run id from the delivery id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from events.ids import derived_id
from events.webhooks import WebhookReceived
from projections import WebhookView
from runner.webhooks.dedupe import DeliveryId, dedupe_key
from runner.webhooks.verify import Verification


def webhook_stream(webhook_id: str) -> str:
    return f"webhook-{webhook_id}"


def delivery_stream(key: str) -> str:
    """The stream of one delivery, keyed by its dedupe key: it can only ever be created once."""
    return f"delivery-{key}"


def rejection_stream(webhook_id: str) -> str:
    """Rejections get their own stream so they never move the webhook stream's version."""
    return f"webhook-rejections-{webhook_id}"


def delivery_id_for(key: str) -> str:
    return derived_id("dlv", key)


def run_id_for(delivery_id: str) -> str:
    """The one run a delivery can ever start."""
    return derived_id("run", "webhook", delivery_id)


def hook_path(webhook_id: str, scheme: str, token: str | None = None) -> str:
    """The path a provider posts to; for ``url_token`` the token (or its mask) is the last part."""
    if scheme != "url_token":
        return f"/hooks/{webhook_id}"
    return f"/hooks/{webhook_id}/{token if token is not None else '<token>'}"


def public_view(hook: WebhookView) -> dict[str, Any]:
    """What the API and dashboard show of a webhook: never the secret or its ciphertext."""
    shown = f"****{hook.secret.hint}" if hook.secret.hint else "****"
    return {
        "webhook_id": hook.webhook_id,
        "name": hook.name,
        "description": hook.description,
        "prompt_template": hook.prompt_template,
        "scheme": hook.scheme,
        "enabled": hook.enabled,
        "path": hook_path(hook.webhook_id, hook.scheme, shown),
        "secret_hint": shown,
        "previous_secret_valid_until": hook.previous_valid_until,
        "model": hook.spec.model,
        "tools": list(hook.spec.tools),
        "mcp_servers": list(hook.spec.mcp_servers),
        "timeout_seconds": hook.spec.timeout_seconds,
        "max_turns": hook.spec.max_turns,
        "budget_usd": hook.spec.budget_usd,
        "rate_per_minute": hook.rate_per_minute,
        "burst": hook.burst,
        "deliveries": hook.deliveries,
        "rejections": hook.rejections,
        "last_delivery_at_us": hook.last_delivery_at_us,
        "created_at_us": hook.created_at_us,
        "updated_at_us": hook.updated_at_us,
    }


# --- the ingest decision -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a verified delivery goes: its stream (created at most once) and its event."""

    stream: str
    event: WebhookReceived

    @property
    def delivery_id(self) -> str:
        return self.event.delivery_id

    @property
    def run_id(self) -> str:
        return self.event.run_id


def _body_text(body: bytes) -> tuple[str, bool]:
    text = body.decode("utf-8", "replace")
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return text, False
    return text, True


def decide_delivery(
    hook: WebhookView,
    *,
    body: bytes,
    masked_headers: dict[str, str],
    verification: Verification,
    provider_id: DeliveryId | None,
    source: str = "",
) -> Decision:
    """The ``WebhookReceived`` for a verified delivery. Pure: the same provider id always gives
    the same stream, delivery id and run id, so a duplicate can only collide, never add."""
    key = dedupe_key(hook.webhook_id, provider_id)
    delivery_id = delivery_id_for(key)
    text, is_json = _body_text(body)
    how = f"{verification.scheme}:ok"
    if verification.secret_index:
        how += ":previous_secret"
    event = WebhookReceived(
        webhook_id=hook.webhook_id,
        delivery_id=delivery_id,
        dedupe_key=key,
        run_id=run_id_for(delivery_id),
        headers=masked_headers,
        body=text,
        body_is_json=is_json,
        verification=how,
        source=source,
    )
    return Decision(stream=delivery_stream(key), event=event)
