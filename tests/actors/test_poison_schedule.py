"""One unplannable job never stops the scheduler: it is refused at the door, and one that
slipped in (an old event) is marked broken while every other job keeps firing."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import anyio
import pytest

from actors.cron import never_fires, next_fires, validate_cron
from actors.scheduler import Scheduler
from events.envelope import Meta
from events.ids import job_stream, scheduled_run_id
from events.jobs import JobCreated, JobSpec
from projections.jobs import JOBS, JobView
from projections.read import get_row
from runner.errors import InvalidInput
from tests.actors.test_scheduler import clock_just_before_next_minute, wait_for
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio
NEVER = ("0 0 30 2 *", "0 0 31 4 *", "0 12 31 6 *", "0 0 30,31 2 *")


@pytest.mark.parametrize("expr", NEVER)
def test_a_schedule_that_never_fires_is_refused_with_the_reason(expr: str) -> None:
    with pytest.raises(ValueError, match="never fires in the next 5 years"):
        validate_cron(expr)
    assert next_fires(expr, "UTC", dt.datetime.now(dt.UTC), 1) == []  # no exception


def test_rare_but_real_schedules_are_accepted() -> None:
    now = dt.datetime.now(dt.UTC)
    for expr in ("0 0 29 2 *", "0 0 31 12 *", "0 0 1 1 *"):
        assert validate_cron(expr) == expr
        assert never_fires(expr, now) is None


async def test_every_door_refuses_it(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        with pytest.raises(InvalidInput) as refused:
            await runner.jobs.create({"name": "feb", "prompt": "p", "cron": "0 0 30 2 *"})
        assert refused.value.field == "cron" and "30 February" in refused.value.message
        job, _ = await runner.jobs.create({"name": "ok", "prompt": "p", "cron": "0 0 1 * *"})
        with pytest.raises(InvalidInput):
            await runner.jobs.update(job.job_id, {"cron": "0 0 30 2 *"})


async def test_a_poisoned_job_is_marked_broken_and_others_keep_firing(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        good, _ = await runner.jobs.create({"name": "tick", "prompt": "p", "cron": "* * * * *"})
        # As an old release would have written it: no validation on the way in.
        poison = JobCreated(
            job_id="poison", spec=JobSpec(name="feb 30", prompt="p", cron="0 0 30 2 *")
        )
        await runner.store.append(
            job_stream("poison"), [poison], expected="no_stream", meta=Meta(actor="old")
        )
        offset, boundary = clock_just_before_next_minute(lead=1.5)
        sched = Scheduler(runner.store, clock=lambda: time.time() + offset)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            run_id = scheduled_run_id(good.job_id, boundary)

            async def fired() -> bool:
                return bool(await runner.store.read_stream(f"run-{run_id}"))

            async def broken() -> bool:
                row: JobView | None = await get_row(runner.store, JOBS, "poison")
                return bool(row and row.schedule_error)

            await wait_for(broken)
            await wait_for(fired)
            tg.cancel_scope.cancel()
        row = await get_row(runner.store, JOBS, "poison")
        assert row is not None and "never fires" in (row.schedule_error or "")
        types = [r.type for r in await runner.store.read_stream(job_stream("poison"))]
        assert types == ["JobCreated", "JobScheduleBroken"]  # recorded once, not per loop
        jobs = await runner.queries.jobs()
        assert {j.job_id for j in jobs.items} >= {"poison", good.job_id}
        # Fixing the schedule clears the mark.
        await runner.jobs.update("poison", {"cron": "0 0 1 3 *"})
        row = await get_row(runner.store, JOBS, "poison")
        assert row is not None and row.schedule_error is None


async def test_a_restarted_scheduler_does_not_record_the_same_break_again(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        poison = JobCreated(job_id="p", spec=JobSpec(name="p", prompt="p", cron="0 0 31 4 *"))
        await runner.store.append(job_stream("p"), [poison], meta=Meta(actor="old"))
        for _ in range(2):
            sched = Scheduler(runner.store)
            async with anyio.create_task_group() as tg:
                tg.start_soon(sched.run)

                async def broken() -> bool:
                    row: JobView | None = await get_row(runner.store, JOBS, "p")
                    return bool(row and row.schedule_error)

                await wait_for(broken)
                await anyio.sleep(0.2)
                tg.cancel_scope.cancel()
        types = [r.type for r in await runner.store.read_stream(job_stream("p"))]
        assert types.count("JobScheduleBroken") == 1
