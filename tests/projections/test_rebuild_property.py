"""Property: any valid sequence of commands (and actor events) leaves views equal to a rebuild."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.ids import run_stream
from events.runs import (
    RunClaimed,
    RunFailed,
    RunOutput,
    RunResult,
    RunStarted,
    RunSucceeded,
    RunUsage,
    Usage,
)
from projections import ALL_PROJECTIONS, audit
from runner.app import Runner
from runner.errors import CommandError
from tests.helpers import open_runner

Op = tuple[str, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "create",
                "update",
                "pause",
                "resume",
                "delete",
                "run",
                "cancel",
                "progress",
                "finish",
                "fail",
                "settings",
            ]
        ),
        st.integers(0, 4),
        st.integers(0, 10_000),
    ),
    min_size=1,
    max_size=30,
)


async def apply(runner: Runner, op: Op, jobs: list[str], runs: list[str]) -> None:
    kind, idx, n = op
    job = jobs[idx % len(jobs)] if jobs else None
    run = runs[idx % len(runs)] if runs else None
    try:
        if kind == "create":
            j, _ = await runner.jobs.create(
                {"name": f"job {n}", "prompt": f"do {n}", "cron": "*/5 * * * *" if n % 2 else None}
            )
            jobs.append(j.job_id)
        elif kind == "update" and job:
            await runner.jobs.update(job, {"prompt": f"p{n}", "timezone": "Europe/Brussels"})
        elif kind == "pause" and job:
            await runner.jobs.pause(job)
        elif kind == "resume" and job:
            await runner.jobs.resume(job)
        elif kind == "delete" and job:
            await runner.jobs.delete(job)
            jobs.remove(job)
        elif kind == "run" and job:
            runs.append((await runner.runs.request_job(job)).run_id)
        elif kind == "cancel" and run:
            await runner.runs.cancel(run)
        elif kind == "progress" and run:
            await runner.store.append(
                run_stream(run),
                [
                    RunClaimed(run_id=run, claimer="x"),
                    RunStarted(run_id=run, workspace="/w", model="m"),
                    RunOutput(run_id=run, seq=n, kind="text", text="t" * (n % 50)),
                    RunUsage(
                        run_id=run, message_id=f"m{n}", model="m", usage=Usage(input_tokens=n)
                    ),
                ],
            )
        elif kind == "finish" and run:
            await runner.store.append(
                run_stream(run),
                [
                    RunSucceeded(
                        run_id=run,
                        result=RunResult(cost_usd=n / 1e4, model="m", usage=Usage(output_tokens=n)),
                    )
                ],
            )
        elif kind == "fail" and run:
            await runner.store.append(
                run_stream(run),
                [RunFailed(run_id=run, reason="api_error", message="x", retryable=True)],
            )
        elif kind == "settings":
            await runner.settings.change({"max_concurrent_runs": 1 + n % 9})
    except CommandError:
        pass  # a refused command writes nothing; the property still must hold


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_rebuild_equals_live_views(sequence: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)

        async def main() -> None:
            async with open_runner(data) as runner:
                jobs: list[str] = []
                runs: list[str] = []
                for op in sequence:
                    await apply(runner, op, jobs, runs)

        anyio.run(main)
        report = audit(data / "runner.db", ALL_PROJECTIONS, data / "scratch.db")
        assert report.ok, report.issues


def test_views_survive_reopen(tmp_path: Path) -> None:
    """The in-memory fold state reloaded from the views continues exactly where it stopped."""

    async def first() -> tuple[str, str]:
        async with open_runner(tmp_path) as runner:
            job, _ = await runner.jobs.create({"name": "a", "prompt": "b"})
            run = await runner.runs.request_job(job.job_id)
            return job.job_id, run.run_id

    job_id, run_id = anyio.run(first)

    async def second() -> dict[str, Any]:
        async with open_runner(tmp_path) as runner:
            await runner.store.append(
                run_stream(run_id),
                [RunSucceeded(run_id=run_id, result=RunResult(cost_usd=0.25, model="m"))],
            )
            job = await runner.queries.job(job_id)
            return {"runs": job.run_count, "cost": job.cost_usd}

    assert anyio.run(second) == {"runs": 1, "cost": 0.25}
    assert audit(tmp_path / "runner.db", ALL_PROJECTIONS, tmp_path / "scratch.db").ok
