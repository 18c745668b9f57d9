"""Memory follows live work: finished runs leave the fold's memory yet fold exactly as before."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from events.ids import run_stream
from events.runs import RunCancelRequested, RunResult, RunSucceeded, RunUsage, Usage
from projections import ALL_PROJECTIONS, audit
from projections.folder import Folder
from projections.projector import ViewProjector
from projections.runs import RUNS
from runner.app import Runner
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


def resident_runs(runner: Runner) -> dict[str, object]:
    projector = runner.store.projector
    assert isinstance(projector, ViewProjector)
    return projector.folder.snapshot(RUNS.name)


async def finish(runner: Runner, run_id: str, cost: float) -> None:
    await runner.store.append(
        run_stream(run_id),
        [RunSucceeded(run_id=run_id, result=RunResult(cost_usd=cost, model="m"))],
    )


async def test_only_active_runs_stay_in_memory(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create({"name": "j", "prompt": "p"})
        runs = [(await runner.runs.request_job(job.job_id)).run_id for _ in range(30)]
        assert set(resident_runs(runner)) == set(runs)
        for i, run_id in enumerate(runs[:25]):
            await finish(runner, run_id, i / 100)
        assert set(resident_runs(runner)) == set(runs[25:])
        # Late events for evicted runs read the row through and fold as if it had stayed.
        await runner.store.append(
            run_stream(runs[3]),
            [
                RunUsage(run_id=runs[3], message_id="late", model="m", usage=Usage(input_tokens=7)),
                RunCancelRequested(run_id=runs[3], reason="too late"),
            ],
        )
        assert runs[3] not in resident_runs(runner)
        row = await runner.queries.run(runs[3])
        assert row.state == "succeeded" and row.cost_usd == 0.03  # terminal states are sticky
    # The live views (folded with eviction) equal a rebuild that held every row in memory.
    report = audit(tmp_path / "runner.db", ALL_PROJECTIONS, tmp_path / "scratch.db")
    assert report.ok, report.issues
    async with open_runner(tmp_path) as again:  # start-up loads only the active rows
        assert set(resident_runs(again)) == set(runs[25:])


async def test_another_process_folds_evicted_runs_too(tmp_path: Path) -> None:
    """Two stores on one file: each absorbs the other's events for runs it no longer holds."""
    async with open_runner(tmp_path) as one, open_runner(tmp_path) as two:
        job, _ = await one.jobs.create({"name": "j", "prompt": "p"})
        runs = [(await one.runs.request_job(job.job_id)).run_id for _ in range(6)]
        for run_id in runs:
            await finish(two, run_id, 0.01)
        await one.store.append(
            run_stream(runs[0]),
            [RunUsage(run_id=runs[0], message_id="x", model="m", usage=Usage(output_tokens=3))],
        )
        await two.store.append(
            run_stream(runs[1]), [RunCancelRequested(run_id=runs[1], reason="late")]
        )
        with anyio.fail_after(10):
            while resident_runs(one) or resident_runs(two):
                await one.jobs.pause(job.job_id)  # any append makes each absorb the other's
                await two.jobs.resume(job.job_id)
    report = audit(tmp_path / "runner.db", ALL_PROJECTIONS, tmp_path / "scratch.db")
    assert report.ok, report.issues


def test_without_a_loader_nothing_is_evicted() -> None:
    """Rebuilds fold without a database behind them: bounded tables keep every row there."""
    folder = Folder(ALL_PROJECTIONS)
    assert folder.loader is None
    with pytest.raises(ValueError, match="bounded"):
        list(folder.keys(RUNS.name))
