"""The relay's HTTP edge without the CLI: tokens, refusals, bad input, retries, the cap."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.executor_options import ExecutorSettings
from actors.relay import Relay
from events import SQLiteEventStore
from events.relay import ModelCallMetered, ModelCallRefused
from events.runs import RunCancelRequested, RunCrashed
from tests.actors.relay.conftest import REAL_KEY, start_relay
from tests.fakes.anthropic_api import Error, FakeAnthropicAPI, Text, Turn

pytestmark = [pytest.mark.anyio]


def body(prompt: str, *, stream: bool = True, max_tokens: int = 1000) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    }


async def call(
    relay: Relay, token: str | None, payload: Any, *, path: str = "/v1/messages?beta=true"
) -> httpx2.Response:
    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    if token is not None:
        headers["x-api-key"] = token
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with httpx2.AsyncClient(timeout=30) as c:
        return await c.post(f"http://127.0.0.1:{relay.port}{path}", content=raw, headers=headers)


def assert_api_error(resp: httpx2.Response, status: int, kind: str) -> None:
    assert resp.status_code == status, resp.text
    data = resp.json()
    assert data["type"] == "error" and data["error"]["type"] == kind, data
    assert data["error"]["message"]


async def stream_of(store: SQLiteEventStore, stream: str) -> list[Any]:
    return [r.event for r in await store.read_stream(stream)]


async def events_until(
    store: SQLiteEventStore, stream: str, pred: Any, timeout: float = 10.0
) -> list[Any]:
    """The stream's events once ``pred(events)`` holds (the relay records after replying)."""
    with anyio.fail_after(timeout):
        while True:
            evs = await stream_of(store, stream)
            if pred(evs):
                return evs
            await anyio.sleep(0.02)


def metered(evs: list[Any]) -> list[ModelCallMetered]:
    return [e for e in evs if isinstance(e, ModelCallMetered)]


async def wait_for(pred: Any, what: str, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not await pred():
            await anyio.sleep(0.02)


async def test_token_swapped_for_the_real_key(
    relay: Relay, store: SQLiteEventStore, fake_api: FakeAnthropicAPI
) -> None:
    grant = relay.open("h1", "job1", None, 60)
    assert grant is not None and REAL_KEY not in json.dumps(grant.env)
    marker = fake_api.script("swap", [Turn([Text("hello")], input_tokens=100, output_tokens=10)])
    resp = await call(relay, grant.token, body(f"hi {marker}"))
    assert resp.status_code == 200
    assert b"event: message_stop" in resp.content
    rec = fake_api.requests_for("swap")[0]
    assert rec.headers["x-api-key"] == REAL_KEY
    assert grant.token not in json.dumps(rec.headers)
    assert rec.path == "/v1/messages?beta=true"
    evs = await events_until(store, "run-h1", metered)
    [m] = metered(evs)
    assert (m.input_tokens, m.output_tokens, m.status) == (100, 10, 200)
    assert m.cost_usd == pytest.approx((100 * 3 + 10 * 15) / 1e6)
    assert m.request_id and m.request_id.startswith("req_fake_")
    # a bearer token works as well as x-api-key; count_tokens and HEAD pass
    async with httpx2.AsyncClient(timeout=30) as c:
        r = await c.post(
            f"http://127.0.0.1:{relay.port}/v1/messages/count_tokens?beta=true",
            json=body("x", stream=False),
            headers={"authorization": f"Bearer {grant.token}"},
        )
        assert r.status_code == 200 and r.json() == {"input_tokens": 100}
        h = await c.head(f"http://127.0.0.1:{relay.port}/api/hello")
        assert h.status_code == 200


async def test_unknown_token_401_and_an_event(relay: Relay, store: SQLiteEventStore) -> None:
    resp = await call(relay, "crr_forged", body("hi"))
    assert_api_error(resp, 401, "authentication_error")
    assert resp.headers["x-should-retry"] == "false"
    resp = await call(relay, None, body("hi"))
    assert resp.status_code == 401
    evs = await events_until(store, "relay", bool)
    assert evs and isinstance(evs[0], ModelCallRefused) and evs[0].reason == "unknown_token"
    assert relay.counters.unknown_tokens == 2
    # a flood is one event per second, the rest counted
    for _ in range(20):
        await call(relay, "crr_flood", body("hi"))
    assert len(await stream_of(store, "relay")) <= 3


@pytest.mark.parametrize("how", ["closed", "crashed", "cancel_requested", "expired"])
async def test_an_ended_runs_token_is_refused(
    relay: Relay, store: SQLiteEventStore, fake_api: FakeAnthropicAPI, how: str
) -> None:
    grant = relay.open(f"e-{how}", "job1", None, 0.0 if how == "expired" else 60)
    assert grant is not None
    if how == "expired":
        relay.grants.of_run(f"e-{how}").expires_at = 0.0  # type: ignore[union-attr]
    elif how == "closed":
        relay.close(f"e-{how}")
    elif how == "crashed":  # another process, or recovery, records the crash
        await store.append(f"run-e-{how}", [RunCrashed(run_id=f"e-{how}", detail="owner died")])
    else:
        await store.append(f"run-e-{how}", [RunCancelRequested(run_id=f"e-{how}")])

    async def refused() -> bool:
        return (await call(relay, grant.token, body("hi"))).status_code == 402

    await wait_for(refused, "token refused")
    resp = await call(relay, grant.token, body("hi"))
    assert_api_error(resp, 402, "billing_error")
    assert resp.headers["x-should-retry"] == "false"
    assert "retry-after" not in resp.headers
    assert resp.json()["error"]["message"].startswith("Run ended")
    assert not any(r.script == "default" for r in fake_api.requests if r.status == 200)
    evs = await events_until(
        store, f"run-e-{how}", lambda es: any(isinstance(e, ModelCallRefused) for e in es)
    )
    assert any(isinstance(e, ModelCallRefused) and e.reason == "run_ended" for e in evs)


async def test_revoke_mid_stream_cuts_it(
    relay: Relay, store: SQLiteEventStore, fake_api: FakeAnthropicAPI
) -> None:
    grant = relay.open("cut", "job1", None, 60)
    assert grant is not None
    marker = fake_api.script("slow", [Turn([Text("x" * 50, chunk=5)], delay=0.2)])
    got: list[bytes] = []
    broke: list[BaseException] = []

    async def reader() -> None:
        headers = {"x-api-key": grant.token}
        try:
            async with (
                httpx2.AsyncClient(timeout=30) as c,
                c.stream(
                    "POST",
                    f"http://127.0.0.1:{relay.port}/v1/messages",
                    json=body(marker),
                    headers=headers,
                ) as r,
            ):
                async for chunk in r.aiter_raw():
                    got.append(chunk)
        except httpx2.HTTPError as exc:
            broke.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        with anyio.fail_after(10):
            while not got:
                await anyio.sleep(0.01)
        relay.close("cut", "budget exhausted")
    data = b"".join(got)
    assert b"message_stop" not in data  # the CLI never sees a complete reply
    assert broke, "the stream was cut, not ended cleanly"
    resp = await call(relay, grant.token, body("again"))
    assert resp.status_code == 402
    [m] = metered(await events_until(store, "run-cut", metered))
    assert m.partial


@pytest.mark.parametrize(
    "payload,status,kind",
    [
        (b"{not json", 400, "invalid_request_error"),
        (b"[]", 400, "invalid_request_error"),
        (b'{"max_tokens": 5}', 400, "invalid_request_error"),
        (b'{"model": 7}', 400, "invalid_request_error"),
        (b"\xff\xfe\x00", 400, "invalid_request_error"),
    ],
)
async def test_malformed_requests_get_api_errors(
    relay: Relay, payload: bytes, status: int, kind: str
) -> None:
    grant = relay.open("bad", "job1", None, 60)
    assert grant is not None
    assert_api_error(await call(relay, grant.token, payload), status, kind)


async def test_oversized_paths_and_methods(relay: Relay) -> None:
    grant = relay.open("big", "job1", None, 60)
    assert grant is not None
    base = f"http://127.0.0.1:{relay.port}"
    async with httpx2.AsyncClient(timeout=60) as c:
        big = b"x" * (32 * 1024 * 1024 + 1)
        r = await c.post(f"{base}/v1/messages", content=big, headers={"x-api-key": grant.token})
        assert_api_error(r, 413, "request_too_large")

        async def chunks() -> Any:  # no content-length: the limit holds while reading
            for _ in range(33):
                yield b"y" * (1024 * 1024)

        r = await c.post(
            f"{base}/v1/messages", content=chunks(), headers={"x-api-key": grant.token}
        )
        assert_api_error(r, 413, "request_too_large")
        assert_api_error(await c.get(f"{base}/v1/messages"), 405, "invalid_request_error")
        assert_api_error(await c.post(f"{base}/v1/complete"), 404, "not_found_error")
        assert_api_error(await c.post(f"{base}/../etc/passwd"), 404, "not_found_error")
    # still serving
    r2 = await call(relay, grant.token, body("after"))
    assert r2.status_code == 200


async def test_429_and_529_retried_at_the_relay(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    async with anyio.create_task_group() as tg:
        relay = await start_relay(store, tg, settings, max_retries=3)
        grant = relay.open("rt", "job1", None, 60)
        assert grant is not None
        marker = fake_api.script(
            "flaky",
            [
                Error(529, "overloaded_error"),
                Error(429, "rate_limit_error", retry_after="0"),
                Text("ok"),
            ],
        )
        resp = await call(relay, grant.token, body(marker))
        assert resp.status_code == 200 and b"message_stop" in resp.content
        assert [r.status for r in fake_api.requests_for("flaky")] == [529, 429, 200]
        c = relay.counters
        assert (c.retries, c.overloaded, c.rate_limited) == (2, 1, 1)
        # a wait longer than the relay's limit goes back to the CLI as it came
        long = fake_api.script("long", [Error(429, "rate_limit_error", retry_after="3600")])
        resp = await call(relay, grant.token, body(long))
        assert_api_error(resp, 429, "rate_limit_error")
        assert resp.headers["retry-after"] == "3600"
        evs = await events_until(store, "run-rt", lambda es: len(metered(es)) == 2)
        assert [m.retries for m in metered(evs)] == [2, 0]
        tg.cancel_scope.cancel()


async def test_upstream_concurrency_is_capped(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    async with anyio.create_task_group() as tg:
        relay = await start_relay(store, tg, settings, max_concurrent=1)
        grant = relay.open("cap", "job1", None, 60)
        assert grant is not None
        marker = fake_api.script("paced", [Turn([Text("abc")], delay=0.05)] * 3)
        seen_waiting = 0

        async def one(i: int) -> None:
            r = await call(relay, grant.token, body(f"{marker} {i}"))
            assert r.status_code == 200

        async with anyio.create_task_group() as inner:
            for i in range(3):
                inner.start_soon(one, i)
            with anyio.fail_after(20):
                while relay.counters.calls < 3:
                    seen_waiting = max(seen_waiting, relay.counters.waiting)
                    assert relay.counters.in_flight <= 1
                    await anyio.sleep(0.005)
        assert seen_waiting >= 1
        assert relay.status()["counters"]["calls"] == 3
        tg.cancel_scope.cancel()


async def test_upstream_down_is_a_503_the_cli_rides_out(
    store: SQLiteEventStore, settings: ExecutorSettings
) -> None:
    import msgspec

    dead = msgspec.structs.replace(
        settings, auth_env={**settings.auth_env, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    )
    async with anyio.create_task_group() as tg:
        relay = await start_relay(store, tg, dead)
        grant = relay.open("down", "job1", None, 60)
        assert grant is not None
        resp = await call(relay, grant.token, body("hi"))
        assert_api_error(resp, 503, "api_error")
        assert "x-should-retry" not in resp.headers
        assert relay.counters.upstream_errors == 1
        tg.cancel_scope.cancel()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"model": st.text(max_size=30), "max_tokens": json_values, "stream": json_values},
        optional={"thinking": json_values, "messages": json_values},
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=hostile_bodies)
async def test_hostile_bodies_never_crash_the_relay(relay: Relay, payload: bytes) -> None:
    grant = relay.open("fuzz", "job1", 0.5, 60)
    assert grant is not None
    resp = await call(relay, grant.token, payload)
    assert resp.status_code < 500 or resp.status_code == 503, resp.text
    if resp.status_code >= 400:
        assert resp.json()["type"] == "error"
    # and the relay still serves a well-formed call
    ok = await call(relay, grant.token, body("after fuzz"))
    assert ok.status_code == 200


async def test_upstream_dying_mid_stream_is_a_cut_and_a_partial_count(
    store: SQLiteEventStore, settings: ExecutorSettings
) -> None:
    from actors.relay import relay_settings

    start = {
        "type": "message_start",
        "message": {
            "id": "m1",
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 500, "output_tokens": 1},
        },
    }

    class Dying(httpx2.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield f"event: message_start\ndata: {json.dumps(start)}\n\n".encode()
            raise httpx2.ReadError("upstream went away")

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Dying())

    relay = Relay(
        store,
        relay_settings(settings.auth_env, None),
        transport=httpx2.MockTransport(handler),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(relay.run)
        grant = relay.open("dy", "job1", 1.0, 60)
        assert grant is not None
        with pytest.raises(httpx2.HTTPError):
            await call(relay, grant.token, body("hi"))
        [m] = metered(await events_until(store, "run-dy", metered))
        assert m.partial and m.input_tokens == 500
        assert m.cost_usd == pytest.approx((500 * 3 + 1 * 15) / 1e6)
        assert relay.spent("dy") == pytest.approx(m.cost_usd)  # counted against the budget
        assert relay.counters.upstream_errors == 1
        tg.cancel_scope.cancel()


async def test_calls_in_flight_hold_the_budget_left(
    relay: Relay, store: SQLiteEventStore, fake_api: FakeAnthropicAPI
) -> None:
    """Two calls of one run at once cannot together buy more output than the budget holds:
    the second waits for the first to settle, then gets what is left."""
    grant = relay.open("par", "job1", 0.01, 60)
    assert grant is not None
    slow = fake_api.script(
        "first", [Turn([Text("a" * 40, chunk=4)], output_tokens=100, delay=0.05)]
    )
    fast = fake_api.script("second", [Turn([Text("b")], output_tokens=10)])
    done: dict[str, float] = {}

    async def one(name: str, marker: str) -> None:
        r = await call(relay, grant.token, body(marker, max_tokens=32000))
        assert r.status_code == 200, r.text
        done[name] = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "first", slow)
        with anyio.fail_after(10):
            while not fake_api.requests_for("first"):
                await anyio.sleep(0.005)
        tg.start_soon(one, "second", fast)
    first, second = fake_api.requests_for("first")[0], fake_api.requests_for("second")[0]
    assert first.body and first.body["max_tokens"] == 666  # all that $0.01 buys at $15/M
    spent_first = (120 * 3 + 100 * 15) / 1e6
    assert second.body and second.body["max_tokens"] == int((0.01 - spent_first) / 15e-6)
    assert done["first"] <= done["second"]
    g = relay.grants.of_run("par")
    assert g is not None and g.reserved_usd == pytest.approx(0, abs=1e-12)
    assert relay.ledger.reserved_day
    assert all(v == pytest.approx(0, abs=1e-12) for v in relay.ledger.reserved_day.values())
