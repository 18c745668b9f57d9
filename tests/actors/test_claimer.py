"""The claimer and executor pool: admission, overlap policies, order, cancel, exactly-once claims."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from actors.claimer import Claimer
from actors.pool import ExecutorPool
from events.ids import run_stream
from events.runs import RunCancelled, RunStarted, RunSucceeded
from projections.runs import RunView
from runner.app import Runner
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio
_names = itertools.count()


class FakeExecutor:
    """Starts a run, then waits until the test releases it (or it is cancelled)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.release: dict[str, anyio.Event] = {}
        self.started: list[str] = []

    async def __call__(self, run: RunView) -> None:
        stream = run_stream(run.run_id)
        await self.runner.store.append(stream, [RunStarted(run_id=run.run_id, workspace="/w")])
        self.started.append(run.run_id)
        gate = self.release.setdefault(run.run_id, anyio.Event())
        try:
            await gate.wait()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.runner.store.append(
                    stream, [RunCancelled(run_id=run.run_id, reason="killed")]
                )
            raise
        await self.runner.store.append(stream, [RunSucceeded(run_id=run.run_id)])

    def finish(self, run_id: str) -> None:
        self.release.setdefault(run_id, anyio.Event()).set()


@asynccontextmanager
async def system(runner: Runner, instances: int = 1) -> AsyncIterator[FakeExecutor]:
    fake = FakeExecutor(runner)
    async with anyio.create_task_group() as tg:
        for i in range(instances):
            send, receive = anyio.create_memory_object_stream[RunView](100)
            tg.start_soon(Claimer(runner.store, f"test:{i}", send).run)
            tg.start_soon(ExecutorPool(runner.store, fake, receive).run)
        await anyio.sleep(0.05)
        yield fake
        tg.cancel_scope.cancel()


async def until(runner: Runner, run_id: str, *states: str, timeout: float = 5.0) -> RunView:
    with anyio.fail_after(timeout):
        while True:
            run = await runner.queries.run(run_id)
            if run.state in states:
                return run
            await anyio.sleep(0.02)


async def job(runner: Runner, **fields: object) -> str:
    j, _ = await runner.jobs.create({"name": f"j{next(_names)}", "prompt": "p", **fields})
    return j.job_id


async def test_global_concurrency_and_order(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change({"max_concurrent_runs": 2})
        jid = await job(runner, overlap="allow")
        runs = [(await runner.runs.request_job(jid)).run_id for _ in range(4)]
        async with system(runner) as fake:
            await until(runner, runs[0], "running")
            await until(runner, runs[1], "running")
            await anyio.sleep(0.2)
            assert (await runner.queries.run(runs[2])).state == "requested"
            fake.finish(runs[0])
            await until(runner, runs[2], "running")
            assert (await runner.queries.run(runs[3])).state == "requested"
            assert fake.started == runs[:3]  # queued runs start in order
            for r in runs:
                fake.finish(r)
            await until(runner, runs[3], "succeeded")


async def test_overlap_skip(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        jid = await job(runner, overlap="skip")
        async with system(runner) as fake:
            first = (await runner.runs.request_job(jid)).run_id
            await until(runner, first, "running")
            second = (await runner.runs.request_job(jid)).run_id
            skipped = await until(runner, second, "skipped")
            assert skipped.reason == "overlap" and first in (skipped.message or "")
            fake.finish(first)


async def test_overlap_buffer_one(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        jid = await job(runner, overlap="buffer_one")
        async with system(runner) as fake:
            first = (await runner.runs.request_job(jid)).run_id
            await until(runner, first, "running")
            second = (await runner.runs.request_job(jid)).run_id
            third = (await runner.runs.request_job(jid)).run_id
            await until(runner, third, "skipped")
            assert (await runner.queries.run(second)).state == "requested"
            fake.finish(first)
            await until(runner, second, "running")
            fake.finish(second)


async def test_overlap_cancel_previous(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        jid = await job(runner, overlap="cancel_previous")
        async with system(runner) as fake:
            first = (await runner.runs.request_job(jid)).run_id
            await until(runner, first, "running")
            second = (await runner.runs.request_job(jid)).run_id
            await until(runner, first, "cancelled")
            await until(runner, second, "running")
            fake.finish(second)


async def test_cancel_running_and_queued(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change({"max_concurrent_runs": 1})
        jid = await job(runner, overlap="allow")
        async with system(runner) as fake:
            running = (await runner.runs.request_job(jid)).run_id
            queued = (await runner.runs.request_job(jid)).run_id
            await until(runner, running, "running")
            await runner.runs.cancel(queued)
            await runner.runs.cancel(running)
            await until(runner, running, "cancelled")
            assert (await runner.queries.run(queued)).state == "cancelled"
            assert queued not in fake.started  # a queued run never starts


async def test_two_claimers_never_claim_one_run(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change({"max_concurrent_runs": 50})
        jid = await job(runner, overlap="allow")
        async with system(runner, instances=2) as fake:
            runs = [(await runner.runs.request_job(jid)).run_id for _ in range(20)]
            for r in runs:
                await until(runner, r, "running")
            for r in runs:
                fake.finish(r)
            for r in runs:
                await until(runner, r, "succeeded")
        for r in runs:
            types = [e.type for e in await runner.store.read_stream(run_stream(r))]
            assert types.count("RunClaimed") == 1 and types.count("RunStarted") == 1
        assert sorted(fake.started) == sorted(runs)


async def test_deleted_job_runs_are_skipped(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change({"max_concurrent_runs": 1})
        jid = await job(runner, overlap="allow")
        other = await job(runner, overlap="allow")
        async with system(runner) as fake:
            blocker = (await runner.runs.request_job(other)).run_id
            await until(runner, blocker, "running")
            queued = (await runner.runs.request_job(jid)).run_id
            await runner.jobs.delete(jid)
            run = await until(runner, queued, "cancelled", "skipped")
            assert run.state in ("cancelled", "skipped")
            fake.finish(blocker)


async def test_the_cap_holds_across_racing_claimers(tmp_path: Path) -> None:
    """Several claimers (processes, nodes) admitting at the same instant never exceed the cap."""
    async with open_runner(tmp_path) as runner, open_runner(tmp_path) as peer:
        await runner.settings.change({"max_concurrent_runs": 2})
        jid = await job(runner, overlap="allow")
        runs = [(await runner.runs.request_job(jid)).run_id for _ in range(8)]
        fake = FakeExecutor(runner)
        async with anyio.create_task_group() as tg:
            for i, r in enumerate((runner, runner, peer, peer)):  # 2 per store, 2 stores
                send, receive = anyio.create_memory_object_stream[RunView](100)
                tg.start_soon(Claimer(r.store, f"race:{i}", send).run)
                tg.start_soon(ExecutorPool(r.store, fake, receive).run)
            await until(runner, runs[0], "running")
            await anyio.sleep(0.5)  # every claimer has had its chance to over-admit
            busy = [r.run_id for r in (await runner.queries.runs()).items if r.state != "requested"]
            assert len(busy) == 2, busy
            fake.finish(busy[0])
            await until(runner, busy[0], "succeeded")
            await anyio.sleep(0.5)
            now = [r.run_id for r in await runner.queries.active_runs() if r.state != "requested"]
            assert len(now) == 2, now
            tg.cancel_scope.cancel()
