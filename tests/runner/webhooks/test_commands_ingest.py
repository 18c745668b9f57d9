"""The ingest pipeline without HTTP: rejection flood control per source, order of checks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.webhooks import WebhookRejected
from runner.app import Runner
from runner.commands.webhooks import for_runner
from runner.webhooks.ingest import WebhookIngest
from runner.webhooks.verify import sign_github
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


async def rejections(runner: Runner) -> list[WebhookRejected]:
    return [r.event async for r in runner.store.read_all() if isinstance(r.event, WebhookRejected)]


async def make(runner: Runner, **extra: object) -> tuple[str, str]:
    hook, secret, _ = await for_runner(runner).create(
        {"name": "h", "prompt_template": "{{payload}}", "scheme": "github", **extra}
    )
    return hook.webhook_id, secret


async def test_rejections_are_rate_limited_per_source_and_counted(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid, _ = await make(runner)
        now = [0.0]
        ingest = WebhookIngest(for_runner(runner), rejections_per_minute=60, rejection_burst=3)
        ingest.rejection_limits._clock = lambda: now[0]
        bad = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
        for _ in range(10):
            assert (await ingest.handle(wid, b"{}", bad, source="10.0.0.1")).status == 401
        assert (await ingest.handle(wid, b"{}", bad, source="10.0.0.2")).status == 401
        got = await rejections(runner)
        assert [r.source for r in got] == ["10.0.0.1"] * 3 + ["10.0.0.2"]
        assert ingest.suppressed["10.0.0.1"] == 7
        now[0] += 1.5  # one token back
        await ingest.handle(wid, b"{}", bad, source="10.0.0.1")
        last = (await rejections(runner))[-1]
        assert last.reason == "signature_mismatch (+7 suppressed from this source)"
        assert last.headers["x-hub-signature-256"].startswith("****")
        assert ingest.stats["unauthorized"] == 12


async def test_order_unknown_then_size_then_verify_then_limit(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid, secret = await make(runner, rate_per_minute=1, burst=1)
        ingest = WebhookIngest(for_runner(runner), max_body_bytes=10)
        assert (await ingest.handle("wh_unknown", b"{}", {})).status == 404
        big = b"[" + b"1," * 10 + b"1]"
        assert (await ingest.handle(wid, big, {})).status == 413  # before verification
        assert (await ingest.handle(wid, b"{}", {})).status == 401
        signed = {"X-Hub-Signature-256": sign_github(secret, b"{}")}
        first = await ingest.handle(wid, b"{}", signed)
        assert first.status == 202 and first.body["duplicate"] is False
        limited = await ingest.handle(wid, b"{}", signed)
        assert limited.status == 429 and limited.headers["Retry-After"] == "60"
        # a forged request does not spend the endpoint's tokens
        assert [r.status for r in await rejections(runner)] == [413, 401, 429]


async def test_delivery_without_provider_id_is_never_a_duplicate(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        wid, secret = await make(runner)
        ingest = WebhookIngest(for_runner(runner))
        signed = {"X-Hub-Signature-256": sign_github(secret, b"{}")}
        a = await ingest.handle(wid, b"{}", signed)
        b = await ingest.handle(wid, b"{}", signed)
        assert a.status == b.status == 202 and a.body["run_id"] != b.body["run_id"]
        keyed = {**signed, "Idempotency-Key": "k-1"}
        c = await ingest.handle(wid, b"{}", keyed)
        d = await ingest.handle(wid, b"{}", keyed)
        assert (c.status, d.status) == (202, 200)
        assert c.body["run_id"] == d.body["run_id"] and d.body["duplicate"] is True


HEADER_NAMES = st.sampled_from(
    [
        "X-Hub-Signature-256",
        "X-GitHub-Delivery",
        "Stripe-Signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "Idempotency-Key",
        "Content-Type",
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(["url_token", "standard_webhooks", "github", "stripe"]),
    body=st.binary(max_size=300),
    headers=st.lists(st.tuples(HEADER_NAMES, st.text(max_size=80)), max_size=6),
    token=st.none() | st.text(max_size=60),
)
def test_garbage_never_raises_and_is_never_accepted(
    scheme: str, body: bytes, headers: list[tuple[str, str]], token: str | None
) -> None:
    async def check() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with open_runner(Path(tmp)) as runner:
                wid, _ = await make(runner, scheme=scheme)
                result = await WebhookIngest(for_runner(runner)).handle(
                    wid, body, headers, url_token=token, source="fuzz"
                )
                assert result.status == 401
                assert result.body == {"error": "verification_failed"}
                (rejected,) = await rejections(runner)
                # The reason is a fixed vocabulary: a short body may occur in it by chance.
                assert len(body) < 16 or body not in rejected.reason.encode()

    anyio.run(check)
