"""Back-pressure: queued runs beyond a job's (or webhook's) cap are RunSkipped(queue_full),
``overlap=skip`` counts runs still waiting for a slot, and bulk cancel empties a flood."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.ids import run_stream
from events.runs import RunRequested, RunSpec
from runner.app import Runner
from runner.commands.bulk_cancel import CancelFilter
from runner.errors import InvalidInput
from tests.actors.test_claimer import job, system, until
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


async def flood(runner: Runner, n: int, *, job_id: str | None = None, hook: str | None = None
                ) -> list[str]:  # fmt: skip
    ids = [f"run_flood{i:05d}" for i in range(n)]
    for run_id in ids:
        await runner.store.append(
            run_stream(run_id),
            [
                RunRequested(
                    run_id=run_id,
                    job_id=job_id,
                    trigger="webhook" if hook else "manual",
                    spec=RunSpec(prompt="p"),
                    webhook_id=hook,
                )
            ],
            expected="no_stream",
        )
    return ids


async def test_a_flood_beyond_the_webhook_cap_is_skipped_as_queue_full(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change(
            {"max_concurrent_runs": 1, "max_queued_per_webhook": 5}, actor="test"
        )
        ids = await flood(runner, 30, hook="wh_1")
        async with system(runner) as fake:
            await until(runner, ids[-1], "skipped")
            first = await until(runner, ids[0], "running")
            states = [(await runner.queries.run(r)).state for r in ids]
            assert states.count("skipped") == 25, states
            skipped = await runner.queries.run(ids[-1])
            assert skipped.reason == "queue_full" and "max_queued_per_webhook" in (
                skipped.message or ""
            )
            fake.finish(first.run_id)


async def test_overlap_skip_counts_runs_waiting_for_a_slot(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change({"max_concurrent_runs": 1}, actor="test")
        blocker = await job(runner, overlap="allow")
        ticking = await job(runner, overlap="skip")
        hold = await runner.runs.request_job(blocker)
        async with system(runner) as fake:
            await until(runner, hold.run_id, "running")
            a = await runner.runs.request_job(ticking)
            b = await runner.runs.request_job(ticking)
            # b is skipped although nothing of its job runs: a already waits for the slot.
            skipped = await until(runner, b.run_id, "skipped")
            assert skipped.reason == "overlap" and "waiting" in (skipped.message or "")
            assert (await runner.queries.run(a.run_id)).state == "requested"
            fake.finish(hold.run_id)
            await until(runner, a.run_id, "running")
            fake.finish(a.run_id)


async def test_bulk_cancel_by_job_and_by_webhook(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job_id = await job(runner, overlap="allow")
        mine = await flood(runner, 40, job_id=job_id)
        result = await runner.bulk_cancel.cancel(CancelFilter(job_id=job_id), actor="test")
        assert (result.matched, result.cancelled) == (40, 40)
        assert {(await runner.queries.run(r)).state for r in mine} == {"cancelled"}
        again = await runner.bulk_cancel.cancel(CancelFilter(job_id=job_id), actor="test")
        assert again.matched == 0
        with pytest.raises(InvalidInput):
            await runner.bulk_cancel.cancel(CancelFilter(), actor="test")


async def test_bulk_cancel_stops_running_runs_too(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.settings.change({"max_concurrent_runs": 2}, actor="test")
        job_id = await job(runner, overlap="allow")
        runs = [await runner.runs.request_job(job_id) for _ in range(5)]
        async with system(runner):
            await until(runner, runs[0].run_id, "running")
            await until(runner, runs[1].run_id, "running")
            result = await runner.bulk_cancel.cancel(
                CancelFilter(job_id=job_id, include_running=True), actor="test"
            )
            assert result.matched == 5
            for r in runs:
                await until(runner, r.run_id, "cancelled")
