"""Two OS processes on one database file, and two stores in one process."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from events import ANY, NO_STREAM, AppendRequest, ConcurrencyError, SQLiteEventStore
from tests.events.contract_support import assert_log_well_formed, collect, ev, read_all, tags
from tests.events.sqlite_helpers import verify_chain

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("child_writer.py")
ROOT = Path(__file__).resolve().parents[2]


async def start_child(db: Path, mode: str, n: int) -> tuple[Process, BufferedByteReceiveStream]:
    proc = await anyio.open_process(
        [sys.executable, str(CHILD), str(db), mode, str(n)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    out = BufferedByteReceiveStream(proc.stdout)
    with anyio.fail_after(30):
        assert await out.receive_until(b"\n", 1000) == b"ready"
    return proc, out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_other_process_events_reach_subscriber_quickly(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    n = 150
    async with SQLiteEventStore.open(db, tail_interval=0.005) as store:
        await store.append("parent", [ev("hello")])
        proc, _ = await start_child(db, "stream", n)
        async with proc, store.subscribe(from_position=await store.head()) as sub:
            assert proc.stdin is not None
            await proc.stdin.send(b"\n")
            lags_commit: list[float] = []
            lags_sent: list[float] = []
            with anyio.fail_after(60):
                async for rec in sub:
                    now_ns = time.time_ns()
                    lags_commit.append(now_ns / 1e6 - rec.recorded_at_us / 1e3)
                    lags_sent.append((now_ns - int(tags([rec])[0])) / 1e6)
                    if len(lags_commit) == n:
                        break
            assert await proc.wait() == 0
        assert [r.position for r in await read_all(store)] == list(range(1, n + 2))
    print(
        f"\ncross-process delivery over {n} events: from recorded_at p50 "
        f"{statistics.median(lags_commit):.1f} ms, p99 {_pct(lags_commit, 0.99):.1f} ms; "
        f"from the child's append call p99 {_pct(lags_sent, 0.99):.1f} ms (target 100 ms, "
        "checked by `python -m tests.perf`)"
    )
    assert _pct(lags_commit, 0.99) < 1000  # generous: wall-clock bounds are for benchmarks


async def test_conflicts_between_processes_are_caught(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    n = 120
    async with SQLiteEventStore.open(db, tail_interval=0.005) as store:
        proc, out = await start_child(db, "race", n)
        won: list[int] = []
        lost: list[int] = []
        async with proc, store.subscribe() as sub:
            assert proc.stdin is not None
            start_at = time.time() + 0.3
            await proc.stdin.send(f"{start_at}\n".encode())
            await anyio.sleep(start_at - time.time())
            for i in range(n):
                try:
                    await store.append(f"race-{i}", [ev("parent")], expected=NO_STREAM)
                    won.append(i)
                except ConcurrencyError as exc:
                    assert exc.actual == 0
                    lost.append(i)
                await store.append("own-parent", [ev(str(i))])
            with anyio.fail_after(60):
                child = json.loads(await out.receive_until(b"\n", 100_000))
            assert await proc.wait() == 0
            seen = await collect(sub, 3 * n)
        print(f"\nrace over {n} streams: parent won {len(won)}, child won {len(child['won'])}")
        assert sorted(won + child["won"]) == list(range(n))  # exactly one winner per stream
        assert sorted(lost + child["lost"]) == list(range(n))  # and exactly one loser
        for i in range(n):
            winner = "parent" if i in won else "child"
            assert tags(await store.read_stream(f"race-{i}")) == [winner]
        # Nothing lost, nothing doubled; this process saw the other's events too.
        assert tags(await store.read_stream("own-parent")) == [str(i) for i in range(n)]
        assert tags(await store.read_stream("own-child")) == [str(i) for i in range(n)]
        log = await read_all(store)
        assert len(log) == 3 * n
        assert_log_well_formed(log)
        assert [r.position for r in seen] == list(range(1, 3 * n + 1))
        assert {r.event.instance for r in log} == {"test", "child"}  # type: ignore[union-attr]
    assert verify_chain(db) == 3 * n  # one chain, continued by both processes


async def test_two_stores_in_one_process_share_a_file(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    async with (
        SQLiteEventStore.open(db, tail_interval=0.005) as one,
        SQLiteEventStore.open(db, tail_interval=0.005) as two,
    ):
        wins: list[str] = []

        async def writer(w: int) -> None:
            store = one if w % 2 else two
            for k in range(3):
                name = f"w{w}k{k}"
                await store.append_atomic(
                    [
                        AppendRequest(stream="shared", events=(ev(f"{name}#0"), ev(f"{name}#1"))),
                        AppendRequest(stream=f"own-{w}", events=(ev(f"{name}#2"),), expected=ANY),
                    ]
                )
                try:
                    slot = f"slot-{(w // 2) % 50}-{k}"
                    await store.append(slot, [ev(f"{slot}#won")], expected=NO_STREAM)
                    wins.append(name)
                except ConcurrencyError:
                    pass

        async with two.subscribe() as sub_two:
            async with anyio.create_task_group() as tg:
                for w in range(200):
                    tg.start_soon(writer, w)
            total = 200 * 3 * 3 + len(wins)
            seen = await collect(sub_two, total)
        log = await read_all(one)
        assert len(log) == total
        assert [r.position for r in seen] == list(range(1, total + 1))
        assert_log_well_formed(log)
        assert len(wins) == 50 * 3  # one winner per slot stream
        units: dict[str, list[int]] = {}
        for rec in log:
            units.setdefault(tags([rec])[0].split("#")[0], []).append(rec.position)
        for name, positions in units.items():
            assert positions == list(range(positions[0], positions[0] + len(positions))), name
    assert verify_chain(db) == total
