"""Webhook commands: validation, sealed secrets shown once, rotation with grace, replay, ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from events.webhooks import WebhookCreated, WebhookReceived, WebhookSecretRotated
from runner.commands.webhooks import (
    HookEntry,
    decide_delivery,
    delivery_id_for,
    for_runner,
    run_id_for,
)
from runner.errors import Conflict, InvalidInput, NotFound
from runner.webhooks.dedupe import DeliveryId
from runner.webhooks.verify import Verification
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio

GOOD: dict[str, Any] = {
    "name": "triage",
    "prompt_template": "Triage issue {{payload.issue.title}} ({{headers.x-github-event}})",
    "scheme": "github",
}

BAD = [
    ({**GOOD, "prompt_template": "hi {{payload.x"}, "prompt_template", "unclosed"),
    ({**GOOD, "prompt_template": "{{secrets.key}}"}, "prompt_template", "unknown name"),
    ({**GOOD, "prompt_template": "  "}, "prompt_template", "empty"),
    ({**GOOD, "scheme": "md5"}, "scheme", "scheme must be one of"),
    ({**GOOD, "secret": "short"}, "secret", "at least 16"),
    ({**GOOD, "scheme": "standard_webhooks", "secret": "whsec_!!"}, "secret", "whsec_"),
    ({**GOOD, "scheme": "url_token", "secret": "a" * 10}, "secret", "128 bits"),
    ({**GOOD, "tools": ["Teleport"]}, "tools", "valid built-in tools"),
    ({**GOOD, "mcp_servers": ["ghost"]}, "mcp_servers", "unknown MCP server"),
    ({**GOOD, "timeout_seconds": -1}, "timeout_seconds", "> 0"),
    ({**GOOD, "budget_usd": 0}, "budget_usd", "positive"),
    ({**GOOD, "rate_per_minute": 0}, "rate_per_minute", "> 0"),
    ({**GOOD, "burst": 1.5}, "burst", "whole number"),
    ({**GOOD, "name": ""}, "name", "required"),
    ({**GOOD, "colour": "red"}, None, "unknown webhook fields"),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD)
async def test_bad_input_is_refused_and_nothing_written(
    tmp_path: Path, data: dict[str, Any], field: str | None, message: str
) -> None:
    async with open_runner(tmp_path) as runner:
        before = await runner.store.head()
        with pytest.raises(InvalidInput) as err:
            await for_runner(runner).create(data)
        assert message in err.value.message
        assert err.value.field == field
        assert await runner.store.head() == before


async def test_create_seals_the_secret_and_reveals_it_once(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        cmd = for_runner(runner)
        hook, secret, warnings = await cmd.create({**GOOD, "tools": ["WebSearch"]})
        assert warnings == []
        assert hook.scheme == "github" and hook.enabled
        assert len(secret) >= 40
        (rec,) = await runner.store.read_stream(f"webhook-{hook.webhook_id}")
        assert isinstance(rec.event, WebhookCreated)
        assert secret not in rec.event.secret.ciphertext
        rows = await runner.store.query("SELECT data, meta FROM events")
        assert all(secret.encode() not in bytes(r[0]) + bytes(r[1]) for r in rows)
        entry = await cmd.entry(hook.webhook_id)
        assert entry is not None and entry.secrets(0) == [secret]


async def test_user_supplied_secret_and_name_conflict(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        cmd = for_runner(runner)
        pasted = "my-github-webhook-secret-123"
        _hook, secret, _ = await cmd.create({**GOOD, "secret": pasted})
        assert secret == pasted
        with pytest.raises(Conflict) as err:
            await cmd.create(GOOD)
        assert err.value.field == "name"
        other, _, _ = await cmd.create({**GOOD, "name": "other", "scheme": "url_token"})
        with pytest.raises(Conflict):
            await cmd.update(other.webhook_id, {"name": "triage"})


async def test_update_enable_disable_delete(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        cmd = for_runner(runner)
        hook, _, _ = await cmd.create(GOOD)
        wid = hook.webhook_id
        updated, _ = await cmd.update(wid, {"rate_per_minute": 5, "burst": 2, "model": "m1"})
        assert (updated.rate_per_minute, updated.burst, updated.spec.model) == (5, 2, "m1")
        assert updated.prompt_template == GOOD["prompt_template"]
        with pytest.raises(InvalidInput, match="rotate-secret"):
            await cmd.update(wid, {"secret": "x" * 20})
        assert not (await cmd.disable(wid)).enabled
        assert await cmd.entry(wid) is not None  # the ingest checks enabled itself
        assert (await cmd.enable(wid)).enabled
        await cmd.delete(wid)
        assert await cmd.entry(wid) is None
        with pytest.raises(NotFound):
            await cmd.enable(wid)


async def test_rotation_keeps_the_old_secret_for_the_grace_period(tmp_path: Path) -> None:
    now = [1_000_000.0]
    async with open_runner(tmp_path) as runner:
        cmd = for_runner(runner)
        cmd.clock = lambda: now[0]
        hook, old, _ = await cmd.create(GOOD)
        _, new = await cmd.rotate_secret(hook.webhook_id, grace_seconds=3600)
        assert new != old
        entry = await cmd.entry(hook.webhook_id)
        assert isinstance(entry, HookEntry)
        assert entry.secrets(now[0] + 10) == [new, old]
        assert entry.secrets(now[0] + 3601) == [new]
        recs = await runner.store.read_stream(f"webhook-{hook.webhook_id}")
        assert isinstance(recs[-1].event, WebhookSecretRotated)
        assert recs[-1].event.previous_valid_until == now[0] + 3600
        _, newest = await cmd.rotate_secret(hook.webhook_id, grace_seconds=0)
        entry = await cmd.entry(hook.webhook_id)
        assert entry is not None and entry.secrets(now[0] + 1) == [newest]
        with pytest.raises(InvalidInput):
            await cmd.rotate_secret(hook.webhook_id, grace_seconds=-1)
        with pytest.raises(InvalidInput):
            await cmd.rotate_secret(hook.webhook_id, secret="short")


def test_decision_ids_are_derived_from_the_provider_id() -> None:
    from events.runs import RunSpec
    from events.webhooks import SealedSecret
    from projections import WebhookView

    hook = WebhookView(
        webhook_id="wh_1",
        name="n",
        prompt_template="t",
        spec=RunSpec(prompt="t"),
        scheme="github",
        secret=SealedSecret(ciphertext="x", key_id="k"),
    )
    ok = Verification(ok=True, reason="ok", scheme="github", secret_index=1)
    pid = DeliveryId(source="x-github-delivery", value="abc")
    a = decide_delivery(hook, body=b"{", masked_headers={}, verification=ok, provider_id=pid)
    b = decide_delivery(hook, body=b"[1]", masked_headers={}, verification=ok, provider_id=pid)
    assert a.stream == b.stream and a.delivery_id == b.delivery_id and a.run_id == b.run_id
    assert a.run_id == run_id_for(a.delivery_id) == run_id_for(delivery_id_for(a.event.dedupe_key))
    assert a.event.body_is_json is False and b.event.body_is_json is True
    assert a.event.verification == "github:ok:previous_secret"
    c = decide_delivery(hook, body=b"{}", masked_headers={}, verification=ok, provider_id=None)
    d = decide_delivery(hook, body=b"{}", masked_headers={}, verification=ok, provider_id=None)
    assert c.delivery_id != d.delivery_id  # no provider id: never a duplicate


async def test_replay_creates_a_new_delivery_marked_as_replay(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        cmd = for_runner(runner)
        hook, _, _ = await cmd.create(GOOD)
        from runner.webhooks.ingest import WebhookIngest
        from runner.webhooks.verify import sign_github

        _, secret = await cmd.rotate_secret(hook.webhook_id, grace_seconds=0)
        body = b'{"issue": {"title": "Crash"}}'
        headers = {"X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign_github(secret, body)}
        first = await WebhookIngest(cmd).handle(hook.webhook_id, body, headers)
        assert first.status == 202
        original = first.body["delivery_id"]
        again = await cmd.replay(original)
        assert again.replay_of == original
        assert again.delivery_id != original and again.run_id != first.body["run_id"]
        assert again.body == body.decode() and again.webhook_id == hook.webhook_id
        stored = await runner.store.read_stream(f"delivery-{again.dedupe_key}")
        assert isinstance(stored[0].event, WebhookReceived)
        with pytest.raises(NotFound):
            await cmd.replay("dlv_nope")


async def test_secrets_sealed_under_a_key_rotated_elsewhere_still_open(tmp_path: Path) -> None:
    from runner.secrets import SecretBox, generate_key

    old_key, new_key = generate_key(), generate_key()
    async with open_runner(tmp_path) as runner:
        from runner.commands.webhooks import WebhookCommands

        boxes = {"now": SecretBox.from_key(old_key)}
        here = WebhookCommands(
            runner.store, runner.queries, boxes["now"], reload_box=lambda: boxes["now"]
        )
        elsewhere = WebhookCommands(runner.store, runner.queries, SecretBox.from_key(new_key))
        hook, secret, _ = await elsewhere.create(GOOD)
        boxes["now"] = SecretBox.from_key(new_key, [old_key])  # the key file, re-read
        entry = await here.entry(hook.webhook_id)
        assert entry is not None and entry.current == secret
