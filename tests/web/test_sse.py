"""Live streaming: resume with Last-Event-ID (no gap, no duplicate), slow clients dropped,
disconnects cancel the stream; over a real Hypercorn on loopback."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx2
import pytest

from events.envelope import Recorded
from events.runs import RunOutput, RunStarted, RunSucceeded
from runner.app import Runner
from tests.web.support import http_login, serving
from web.context import KEY
from web.sse import Hub

CLOCK = re.compile(r'<time class="clock"[^>]*>[^<]*</time>')
pytestmark = pytest.mark.anyio


def parse(chunk: str) -> list[dict[str, Any]]:
    frames = []
    for raw in chunk.split("\n\n"):
        f: dict[str, Any] = {}
        for line in raw.split("\n"):
            if line.startswith("id: "):
                f["id"] = int(line[4:])
            elif line.startswith("event: "):
                f["event"] = line[7:]
            elif line.startswith("data: "):
                f["data"] = json.loads(line[6:])
        if "event" in f:
            frames.append(f)
    return frames


async def read_frames(
    resp: httpx2.Response, until: Any, limit: float = 10.0
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    buf = ""
    with anyio.fail_after(limit):
        async for text in resp.aiter_text():
            buf += text
            while "\n\n" in buf:
                raw, buf = buf.split("\n\n", 1)
                got.extend(parse(raw + "\n\n"))
            if until(got):
                return got
    return got


async def output(runner: Runner, rid: str, first: int, n: int) -> None:
    await runner.store.append(
        f"run-{rid}",
        [
            RunOutput(run_id=rid, seq=i, kind="text", text=f"block {i}")
            for i in range(first, first + n)
        ],
    )


async def test_live_then_resume_without_gap_or_duplicate(runner: Runner) -> None:
    run, _ = await runner.runs.quick("stream me")
    rid = run.run_id
    await runner.store.append(f"run-{rid}", [RunStarted(run_id=rid, workspace="/w")])
    await output(runner, rid, 0, 5)
    async with serving(runner) as base, httpx2.AsyncClient(base_url=base) as http:
        await http_login(http)
        url = f"/api/v1/runs/{rid}/stream"
        seen: list[dict[str, Any]] = []
        async with http.stream("GET", url) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")

            async def more() -> None:
                await anyio.sleep(0.2)
                await output(runner, rid, 5, 5)  # live, while connected

            async with anyio.create_task_group() as tg:
                tg.start_soon(more)
                seen += await read_frames(
                    resp, lambda g: sum(f["event"] == "block" for f in g) >= 10
                )
        last = seen[-1]["id"]
        await output(runner, rid, 10, 5)  # committed while disconnected
        async with http.stream("GET", url, headers={"Last-Event-ID": str(last)}) as resp:

            async def finish() -> None:
                await anyio.sleep(0.2)
                await output(runner, rid, 15, 5)
                await runner.store.append(
                    f"run-{rid}", [RunSucceeded(run_id=rid, result_text="ok")]
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(finish)
                seen += await read_frames(resp, lambda g: any(f["event"] == "end" for f in g))
        ids = [f["id"] for f in seen]
        assert ids == sorted(set(ids)), "positions strictly increase: no duplicate, no reorder"
        texts = [CLOCK.sub("", f["data"]["html"]) for f in seen if f["event"] == "block"]
        assert texts == [
            f'<div class="blk blk-text" data-pos="{i}"><p>block {n}</p>\n</div>'
            for n, i in enumerate(f["id"] for f in seen if f["event"] == "block")
        ]
        assert len(texts) == 20
        stream = await runner.store.read_stream(f"run-{rid}")
        wanted = [
            r.position
            for r in stream
            if r.type in ("RunRequested", "RunOutput", "RunStarted", "RunSucceeded")
        ]
        assert [i for i in ids] == wanted
        assert seen[-1]["event"] == "end" and seen[-1]["data"]["state"] == "succeeded"
        # a reconnect after the end gets the end again and stops (the browser closes)
        async with http.stream("GET", url, headers={"Last-Event-ID": str(ids[-1])}) as resp:
            tail = await read_frames(resp, lambda g: any(f["event"] == "end" for f in g))
            assert [f["event"] for f in tail] == ["end"]


async def test_disconnect_cancels_the_stream(runner: Runner) -> None:
    run, _ = await runner.runs.quick("x")
    async with serving(runner) as base, httpx2.AsyncClient(base_url=base) as http:
        await http_login(http)
        hub: Hub = _hub(runner)
        async with http.stream("GET", f"/api/v1/runs/{run.run_id}/stream"):
            with anyio.fail_after(5):
                while hub.clients != 1:
                    await anyio.sleep(0.02)
        with anyio.fail_after(5):
            while hub.clients != 0:
                await anyio.sleep(0.02)
        unauth = await httpx2.AsyncClient(base_url=base).get(f"/api/v1/runs/{run.run_id}/stream")
        assert unauth.status_code == 401


_HUBS: dict[int, Hub] = {}


def _hub(runner: Runner) -> Hub:
    return _HUBS[id(runner)]


@pytest.fixture(autouse=True)
def _capture_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    import web.server as server

    real = server.create_app  # type: ignore[attr-defined]

    def spy(runner: Runner, service: Any = None) -> Any:
        app = real(runner, service)
        _HUBS[id(runner)] = app.extensions[KEY].hub
        return app

    monkeypatch.setattr(server, "create_app", spy)


def rec(pos: int, stream: str = "run-r") -> Recorded:
    from events.envelope import Meta

    return Recorded(position=pos, stream=stream, version=pos, type="RunOutput",
                    event=RunOutput(run_id="r", seq=pos, kind="text", text="t"), meta=Meta(),
                    recorded_at_us=0, hash="")  # fmt: skip


async def test_slow_client_is_dropped_without_delaying_others(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    hub = Hub(runner.store, lambda r: b"x", buffer=8)
    slow = hub.open("run-r")
    fast = hub.open("run-r")
    other = hub.open("run-other")
    got: list[int] = []
    for pos in range(1, 101):
        hub.publish(rec(pos))  # never waits
        while True:
            try:
                got.append(fast.get_nowait()[0])
            except anyio.WouldBlock:
                break
    assert got == list(range(1, 101))
    assert slow.dropped and hub.dropped == 1
    dropped = [r.getMessage() for r in caplog.records if r.name == "web.sse"]
    assert dropped == ["SSE client of run-r dropped: 8 frames unread (it resumes from the log)"]
    drained = []
    with pytest.raises(anyio.EndOfStream):
        while True:
            drained.append(slow.get_nowait()[0])
    assert drained == []  # the stream ends at once: the browser resumes from the log
    assert hub.clients == 2 and not other.dropped
    fast.close()
    other.close()
    assert hub.clients == 0


async def test_slow_http_client_is_cut_and_resumes(runner: Runner) -> None:
    """A browser that stops reading is dropped by the hub; its reconnect resumes from the log."""
    run, _ = await runner.runs.quick("x")
    rid = run.run_id
    async with serving(runner) as base, httpx2.AsyncClient(base_url=base) as http:
        await http_login(http)
        hub = _hub(runner)
        hub.buffer = 4
        async with http.stream("GET", f"/api/v1/runs/{rid}/stream") as stuck:
            with anyio.fail_after(5):
                while hub.clients != 1:
                    await anyio.sleep(0.02)
            async with http.stream("GET", f"/api/v1/runs/{rid}/stream") as healthy:
                with anyio.fail_after(5):
                    while hub.clients != 2:
                        await anyio.sleep(0.02)
                # Many large blocks: the stuck client's socket and buffer fill up.
                big = "y" * 200_000
                frames: list[dict[str, Any]] = []

                async def reader() -> None:
                    # the replayed RunRequested ("state": "requested") and 30 blocks
                    frames.extend(await read_frames(healthy, lambda g: len(g) >= 31, 20))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(reader)
                    for i in range(30):
                        ev = RunOutput(run_id=rid, seq=i, kind="text", text=big)
                        await runner.store.append(f"run-{rid}", [ev])
                        await anyio.sleep(0.01)
                assert len([f for f in frames if f["event"] == "block"]) == 30
            assert hub.dropped >= 1
            await stuck.aclose()
        # the dropped browser reconnects from its last id and gets everything after it
        async with http.stream(
            "GET", f"/api/v1/runs/{rid}/stream", headers={"Last-Event-ID": "0"}
        ) as again:
            frames = await read_frames(again, lambda g: len(g) >= 31, 20)
            assert len(frames) == 31


async def test_an_event_that_cannot_be_encoded_is_skipped(runner: Runner) -> None:
    def encode(r: Recorded) -> bytes:
        if r.position == 2:
            raise ValueError("odd event")
        return b"x"

    hub = Hub(runner.store, encode, buffer=8)
    client = hub.open("run-r")
    for pos in (1, 2, 3):
        hub.publish(rec(pos))
    assert [client.get_nowait()[0] for _ in range(2)] == [1, 3]
    hub.keepalive()
    assert client.get_nowait()[0] == 0  # keep-alive frames carry position 0
