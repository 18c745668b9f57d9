"""The scheduler under a storage fault: it waits and retries (no crash loop), and a slot that
fell out of its window meanwhile is recorded as missed because storage was unavailable."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from actors.scheduler import Scheduler
from events.envelope import AppendRequest, AppendResult
from events.errors import StorageUnavailable
from events.ids import scheduled_run_id
from tests.actors.test_scheduler import clock_just_before_next_minute, wait_for
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


async def test_a_slot_missed_during_an_outage_says_so(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create(
            {"name": "tick", "prompt": "p", "cron": "* * * * *", "catch_up_window_seconds": 0}
        )
        offset, boundary = clock_just_before_next_minute(lead=1.0)
        shift = [offset]
        sched = Scheduler(runner.store, clock=lambda: time.time() + shift[0])
        real = runner.store.append_atomic
        failures = [0]

        async def full(requests: Sequence[AppendRequest]) -> list[AppendResult]:
            if failures[0] < 3:
                failures[0] += 1
                if failures[0] == 3:
                    shift[0] += 120  # the outage outlasts the slot's window
                raise StorageUnavailable("disk_full", "the disk is full", retry_after=1)
            return await real(requests)

        runner.store.append_atomic = full  # type: ignore[method-assign]
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            run_id = scheduled_run_id(job.job_id, boundary)

            async def decided() -> bool:
                return bool(await runner.store.read_stream(f"run-{run_id}"))

            await wait_for(decided, timeout=30)
            tg.cancel_scope.cancel()
        (rec,) = await runner.store.read_stream(f"run-{run_id}")
        assert rec.type == "RunSkipped"
        assert "storage was unavailable (disk full)" in rec.event.detail  # type: ignore[union-attr]
        assert failures[0] == 3
