"""Over real HTTP, per scheme: a replay of a signed delivery with a long id is a duplicate (200,
the same run), and an absurd id is refused with 400 — never accepted without deduplication."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from runner.webhooks.dedupe import MAX_ID_LENGTH
from tests.web.test_hooks import SIGNERS, Env, create, env, post  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio


def body_with(scheme: str, delivery_id: str) -> bytes:
    data: dict[str, Any] = {"issue": {"title": "t"}}
    if scheme == "stripe":
        data["id"] = delivery_id  # Stripe's delivery id is the event id in the body
    return json.dumps(data).encode()


@pytest.mark.parametrize("scheme", list(SIGNERS))
async def test_long_id_replay_is_a_duplicate(env: Env, scheme: str) -> None:  # noqa: F811
    hook = await create(env, scheme=scheme)
    long_id = f"msg_{time.monotonic_ns()}_" + "L" * 700  # over the old 512 limit
    body = body_with(scheme, long_id)
    first = await post(env, hook, hook["secret"], body, id=long_id)
    assert first.status_code == 202, first.text
    replay = await post(env, hook, hook["secret"], body, id=long_id)
    assert replay.status_code == 200, replay.text
    assert replay.json()["duplicate"] is True
    assert replay.json()["run_id"] == first.json()["run_id"]


@pytest.mark.parametrize("scheme", list(SIGNERS))
async def test_absurd_id_is_refused(env: Env, scheme: str) -> None:  # noqa: F811
    hook = await create(env, scheme=scheme)
    absurd = "A" * (MAX_ID_LENGTH + 1)
    r = await post(env, hook, hook["secret"], body_with(scheme, absurd), id=absurd)
    assert r.status_code == 400 and r.json()["error"] == "delivery_id_too_long"
    rows = await env.runner.store.query(
        "SELECT count(*) FROM events WHERE type = 'WebhookReceived'"
    )
    assert rows[0][0] == 0
