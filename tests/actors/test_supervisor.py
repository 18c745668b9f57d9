"""The supervisor restarts a crashed actor with backoff, and every crash is an event."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from actors.supervisor import ActorSpec, Health, supervise
from events import SQLiteEventStore
from events.system import ActorCrashed

pytestmark = pytest.mark.anyio


async def test_crashing_actor_is_restarted_and_recorded(tmp_path: Path) -> None:
    attempts = 0
    steady = anyio.Event()

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise RuntimeError(f"boom {attempts}")
        steady.set()
        await anyio.sleep_forever()

    async def healthy() -> None:
        await anyio.sleep_forever()

    async with SQLiteEventStore.open(tmp_path / "log.db") as store:
        health = Health("test:1")
        async with anyio.create_task_group() as tg:
            await tg.start(
                lambda task_status: supervise(
                    [ActorSpec("flaky", flaky), ActorSpec("healthy", healthy)],
                    store,
                    health,
                    min_backoff=0.01,
                    max_backoff=0.05,
                    task_status=task_status,
                )
            )
            with anyio.fail_after(5):
                await steady.wait()
            snap = health.snapshot()
            tg.cancel_scope.cancel()
        crashes = [r.event for r in await store.read_stream("service")]
    assert attempts == 3
    assert all(isinstance(c, ActorCrashed) for c in crashes) and len(crashes) == 2
    assert [c.error for c in crashes] == ["RuntimeError: boom 1", "RuntimeError: boom 2"]  # type: ignore[union-attr]
    assert [c.restart_in_seconds for c in crashes] == [0.01, 0.02]  # type: ignore[union-attr]
    assert snap["actors"] == {
        "flaky": {"alive": True, "restarts": 2, "last_error": "RuntimeError: boom 2"},
        "healthy": {"alive": True, "restarts": 0, "last_error": None},
    }


async def test_daily_budget_admission_skips_runs(tmp_path: Path) -> None:
    from events.ids import run_stream
    from events.runs import RunResult, RunSucceeded
    from tests.actors.test_claimer import system, until
    from tests.helpers import open_runner

    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create({"name": "spender", "prompt": "p", "overlap": "allow"})
        first = await runner.runs.request_job(job.job_id)
        await runner.store.append(
            run_stream(first.run_id),
            [RunSucceeded(run_id=first.run_id, result=RunResult(cost_usd=2.0))],
        )
        await runner.settings.change({"daily_budget_usd": 1.5})
        async with system(runner):
            second = await runner.runs.request_job(job.job_id)
            run = await until(runner, second.run_id, "skipped")
        assert run.reason == "budget" and "daily budget" in (run.message or "")
