"""Every accepted delivery is deduplicated on a bounded key, whatever its scheme and id length:
a replay of a signed delivery with a long id is a duplicate, an absurd id is refused (400)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from events.webhooks import WebhookReceived, WebhookRejected
from runner.app import Runner
from runner.commands.webhooks import for_runner
from runner.webhooks.dedupe import MAX_ID_LENGTH
from runner.webhooks.ingest import WebhookIngest
from runner.webhooks.verify import sign_github, sign_standard_webhooks, sign_stripe
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio

LONG = 900  # over the old 512-character limit that silently disabled deduplication


async def received(runner: Runner) -> list[WebhookReceived]:
    return [r.event async for r in runner.store.read_all() if isinstance(r.event, WebhookReceived)]


async def rejected(runner: Runner) -> list[WebhookRejected]:
    return [r.event async for r in runner.store.read_all() if isinstance(r.event, WebhookRejected)]


def signed(scheme: str, secret: str, delivery_id: str) -> tuple[bytes, dict[str, str]]:
    """A body and headers as the provider would send them, carrying *delivery_id*."""
    now = int(time.time())
    if scheme == "standard_webhooks":
        body = b'{"type": "invoice.paid"}'
        return body, {
            "webhook-id": delivery_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign_standard_webhooks(secret, delivery_id, now, body),
        }
    if scheme == "github":
        body = b'{"action": "opened"}'
        return body, {
            "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": sign_github(secret, body),
        }
    if scheme == "stripe":
        body = json.dumps({"id": delivery_id, "object": "event"}).encode()
        return body, {"Stripe-Signature": sign_stripe(secret, body, now)}
    return b'{"n": 1}', {"Idempotency-Key": delivery_id}


SCHEMES = ["url_token", "standard_webhooks", "github", "stripe"]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_replay_of_a_long_id_is_a_duplicate(tmp_path: Path, scheme: str) -> None:
    async with open_runner(tmp_path) as runner:
        hook, secret, _ = await for_runner(runner).create(
            {"name": "h", "prompt_template": "{{payload}}", "scheme": scheme}
        )
        ingest = WebhookIngest(for_runner(runner))
        token = secret if scheme == "url_token" else None
        long_id = "evt_" + "a" * LONG
        body, headers = signed(scheme, secret, long_id)
        first = await ingest.handle(hook.webhook_id, body, headers, url_token=token)
        replay = await ingest.handle(hook.webhook_id, body, headers, url_token=token)
        assert first.status == 202, first.body
        assert replay.status == 200 and replay.body["duplicate"] is True
        assert replay.body["run_id"] == first.body["run_id"]
        (event,) = await received(runner)
        assert len(event.dedupe_key) == len(hook.webhook_id) + 1 + 32  # bounded, hashed
        other = await ingest.handle(
            hook.webhook_id, *signed(scheme, secret, "evt_" + "b" * LONG), url_token=token
        )
        assert other.status == 202 and other.body["run_id"] != first.body["run_id"]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_absurd_id_is_refused_not_accepted_undeduplicated(
    tmp_path: Path, scheme: str
) -> None:
    async with open_runner(tmp_path) as runner:
        hook, secret, _ = await for_runner(runner).create(
            {"name": "h", "prompt_template": "{{payload}}", "scheme": scheme}
        )
        ingest = WebhookIngest(for_runner(runner))
        token = secret if scheme == "url_token" else None
        body, headers = signed(scheme, secret, "evt_" + "z" * (MAX_ID_LENGTH + 10))
        result = await ingest.handle(hook.webhook_id, body, headers, url_token=token, source="t")
        assert result.status == 400 and result.body["error"] == "delivery_id_too_long"
        assert await received(runner) == []
        (rejection,) = await rejected(runner)
        assert rejection.reason == "delivery_id_too_long" and rejection.status == 400
