"""The scheduler: fires on time, exactly once per slot, re-plans on change, applies catch-up."""

from __future__ import annotations

import math
import time
from pathlib import Path

import anyio
import pytest

from actors.scheduler import Scheduler
from events.ids import scheduled_run_id
from runner.app import Runner
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


def clock_just_before_next_minute(lead: float = 0.6) -> tuple[float, float]:
    """An offset that puts the scheduler's clock ``lead`` seconds before a minute boundary."""
    now = time.time()
    boundary = math.floor(now / 60) * 60 + 60
    return boundary - lead - now, boundary


async def wait_for(predicate, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not await predicate():
            await anyio.sleep(0.02)


async def states(runner: Runner, job_id: str) -> list[tuple[str, str, float | None]]:
    from runner.queries import RunFilter

    page = await runner.queries.runs(RunFilter(job_id=job_id), limit=200)
    return sorted((r.trigger, r.state, r.scheduled_for) for r in page.items)


async def test_fires_at_the_slot_with_a_derived_run_id(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create({"name": "tick", "prompt": "p", "cron": "* * * * *"})
        offset, boundary = clock_just_before_next_minute()
        sched = Scheduler(runner.store, clock=lambda: time.time() + offset)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            run_id = scheduled_run_id(job.job_id, boundary)

            async def fired() -> bool:
                return bool(await runner.store.read_stream(f"run-{run_id}"))

            await wait_for(fired)
            tg.cancel_scope.cancel()
        rec = (await runner.store.read_stream(f"run-{run_id}"))[0]
        assert rec.type == "RunRequested" and rec.event.scheduled_for == boundary  # type: ignore[union-attr]
        lateness = rec.recorded_at_us / 1e6 + offset - boundary
        assert lateness < 5.0  # generous: only proves it fired at the slot, not a benchmark


async def test_two_schedulers_never_fire_a_slot_twice(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create({"name": "tick", "prompt": "p", "cron": "* * * * *"})
        offset, boundary = clock_just_before_next_minute()
        a = Scheduler(runner.store, clock=lambda: time.time() + offset)
        b = Scheduler(runner.store, clock=lambda: time.time() + offset)
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run)
            tg.start_soon(b.run)
            run_id = scheduled_run_id(job.job_id, boundary)

            async def fired() -> bool:
                return bool(await runner.store.read_stream(f"run-{run_id}"))

            await wait_for(fired)
            await anyio.sleep(0.3)
            tg.cancel_scope.cancel()
        assert [r.type for r in await runner.store.read_stream(f"run-{run_id}")] == ["RunRequested"]
        assert a.fired + b.fired == 1


async def test_replans_at_once_when_a_job_is_created_or_paused(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        sched = Scheduler(runner.store)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            await anyio.sleep(0.1)
            job, _ = await runner.jobs.create(
                {"name": "j", "prompt": "p", "cron": "0 7 * * *", "timezone": "Europe/Brussels"}
            )

            async def planned() -> bool:
                return job.job_id in sched.next_fire

            await wait_for(planned)
            await runner.jobs.pause(job.job_id)

            async def unplanned() -> bool:
                return job.job_id not in sched.next_fire

            await wait_for(unplanned)
            tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", {"requested": 0, "skipped": 3}),
        ("latest", {"requested": 1, "skipped": 2}),
        ("all", {"requested": 1, "skipped": 2}),  # window 1 h: only one missed slot is recent
    ],
)
async def test_catch_up_after_downtime(
    tmp_path: Path, policy: str, expected: dict[str, int]
) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create(
            {
                "name": "hourly",
                "prompt": "p",
                "cron": "0 * * * *",
                "catch_up": policy,
                "catch_up_window_seconds": 3600,
            }
        )
        created = time.time()
        # Come back 3 h 10 min later: three hourly slots were missed (offset from now).
        later = math.floor(created / 3600) * 3600 + 3 * 3600 + 600  # HH:10, three hours on
        sched = Scheduler(runner.store, clock=lambda: time.time() + (later - created))
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)

            async def settled() -> bool:
                return len(await states(runner, job.job_id)) == sum(expected.values())

            await wait_for(settled)
            tg.cancel_scope.cancel()
        rows = await states(runner, job.job_id)
        got = {
            "requested": sum(1 for r in rows if r[1] == "requested"),
            "skipped": sum(1 for r in rows if r[1] == "skipped"),
        }
        assert got == expected
        assert all(r[0] == "catch_up" for r in rows if r[1] == "requested")
        # Every missed slot is an event — none is silent.
        skipped = [r for r in (await runner.queries.runs(limit=200)).items if r.state == "skipped"]
        assert all(r.reason == "missed" and r.message for r in skipped)
