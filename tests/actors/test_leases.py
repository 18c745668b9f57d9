"""Liveness leases: a live process recovers the runs of a dead one (at once on this host, after
the lease expires elsewhere), exactly once, never by mistake after a storage outage, and a
stalled process that lost its lease stops what it ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from actors.lease_table import Lease
from actors.leases import LeaseKeeper
from actors.supervisor import Health
from events.backend import Backend
from events.envelope import Meta
from events.ids import run_stream
from events.runs import RunClaimed, RunRequested, RunSpec, RunStarted
from projections.read import get_row
from projections.runs import RUNS, RunView
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio
TTL = 20.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def keeper(store: Backend, instance: str, clock: Clock, host: str) -> LeaseKeeper:
    k = LeaseKeeper(store, instance, Health(instance), clock=clock, ttl=TTL)
    k.host = host
    return k


async def started_run(store: Backend, run_id: str, claimer: str) -> None:
    await store.append(
        run_stream(run_id),
        [
            RunRequested(run_id=run_id, job_id=None, trigger="manual", spec=RunSpec(prompt="p")),
            RunClaimed(run_id=run_id, claimer=claimer),
            RunStarted(run_id=run_id, workspace="/tmp/w"),
        ],
        meta=Meta(),
    )


def exited_pid() -> int:
    """The pid of a process that has exited."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(dead.stdout)


async def state(store: Backend, run_id: str) -> str:
    row: RunView | None = await get_row(store, RUNS, run_id)
    assert row is not None
    return row.state


async def types(store: Backend, stream: str) -> list[str]:
    return [r.type for r in await store.read_stream(stream)]


async def test_another_hosts_run_is_recovered_once_its_lease_expires(tmp_path: Path) -> None:
    clock = Clock()
    async with open_runner(tmp_path) as runner:
        store = runner.store
        a = keeper(store, "host-a:100", clock, "host-a")
        b = keeper(store, "host-b:200", clock, "host-b")
        c = keeper(store, "host-c:300", clock, "host-c")
        for k in (a, b, c):
            await k.start()
        await started_run(store, "r1", a.instance)
        # a dies; b and c keep beating. Before the TTL nothing happens.
        for _ in range(3):
            clock.now += 5
            await b.beat()
            await c.beat()
        assert await state(store, "r1") == "running"
        for _ in range(2):
            clock.now += 5
            await b.beat()
            await c.beat()
        assert await state(store, "r1") == "crashed"
        assert a.lease is not None
        lease_events = await types(store, a.lease.stream)
        assert lease_events == ["LeaseAcquired", "LeaseExpired"]  # once, though two swept
        run_events = await types(store, run_stream("r1"))
        assert run_events.count("RunCrashed") == 1
        # The dead process wakes up: it learns its lease is gone and stops its runs.
        lost: list[str] = []

        async def on_lost(why: str) -> None:
            lost.append(why)

        a.on_lost = on_lost
        await a.beat()
        assert lost and "lost its liveness lease" in lost[0]
        assert a.lease is not None and await types(store, a.lease.stream) == ["LeaseAcquired"]


async def test_a_dead_process_on_this_host_is_recovered_at_once(tmp_path: Path) -> None:
    clock = Clock()
    pid = exited_pid()
    async with open_runner(tmp_path) as runner:
        store = runner.store
        me = keeper(store, "here:1", clock, "here")
        ghost = Lease(instance=f"here:{pid}", host="here", boot_id=me.boot, pid=pid,
                      proc_start=123, started_at=clock.now, heartbeat=clock.now, ttl=TTL)  # fmt: skip
        await me.start()
        me.table.put(ghost)
        await started_run(store, "r2", ghost.instance)
        clock.now += 5  # far inside the ghost's TTL: the pid says enough
        await me.beat()
        assert await state(store, "r2") == "crashed"
        assert me.recovered == 1


async def test_after_a_storage_outage_nobody_is_declared_dead_by_mistake(tmp_path: Path) -> None:
    clock = Clock()
    async with open_runner(tmp_path) as runner:
        store = runner.store
        a = keeper(store, "host-a:1", clock, "host-a")
        b = keeper(store, "host-b:2", clock, "host-b")
        await a.start()
        await b.start()
        await started_run(store, "r3", a.instance)
        # Nobody could heartbeat for a minute (the disk was full), then storage is back.
        clock.now += 60
        b.healthy_since = None
        await b.beat()
        await a.beat()
        assert await state(store, "r3") == "running"  # b waits a whole TTL before trusting age
        for _ in range(5):
            clock.now += 5
            await a.beat()
            await b.beat()
        assert await state(store, "r3") == "running"  # a is alive and beating


async def test_a_clean_stop_releases_the_lease(tmp_path: Path) -> None:
    clock = Clock()
    async with open_runner(tmp_path) as runner:
        a = keeper(runner.store, "host-a:1", clock, "host-a")
        await a.start()
        assert a.lease is not None
        stream = a.lease.stream
        await a.release()
        assert await types(runner.store, stream) == ["LeaseAcquired", "LeaseReleased"]
        rows = await runner.store.query("SELECT count(*) FROM leases")
        assert rows[0][0] == 0
