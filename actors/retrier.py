"""Retries: a transient failure of a job's run becomes a new run after an exponential backoff.

The retry's run id is derived from the first attempt's id and the attempt number, so two
processes can never schedule the same retry twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from events.backend import Backend
from events.envelope import Meta, Recorded
from events.errors import ConcurrencyError
from events.ids import derived_id, run_stream
from events.runs import RunCrashed, RunFailed, RunRequested
from projections.jobs import JOBS, JobView
from projections.read import get_row
from projections.runs import RUNS, RunView


def backoff_seconds(job: JobView, attempt: int) -> float:
    """Delay before attempt ``attempt + 1``: base × factor^(attempt-1), capped."""
    r = job.spec.retry
    return float(min(r.backoff_seconds * r.backoff_factor ** (attempt - 1), r.max_backoff_seconds))


class Retrier:
    def __init__(
        self,
        store: Backend,
        *,
        clock: Callable[[], float] = time.time,
        from_position: int | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.from_position = from_position

    async def run(self) -> None:
        head = self.from_position if self.from_position is not None else await self.store.head()
        self.from_position = None
        async with self.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                if rec.type in ("RunFailed", "RunCrashed"):
                    await self.consider(rec)

    async def consider(self, rec: Recorded) -> str | None:
        """Request the next attempt when the failure is transient and attempts remain."""
        ev = rec.event
        assert isinstance(ev, RunFailed | RunCrashed)
        if isinstance(ev, RunFailed) and not ev.retryable:
            return None
        run: RunView | None = await get_row(self.store, RUNS, ev.run_id)
        if run is None or run.job_id is None:
            return None
        job: JobView | None = await get_row(self.store, JOBS, run.job_id)
        if job is None or run.attempt >= job.spec.retry.max_attempts:
            return None
        first = run.retry_of or run.run_id
        attempt = run.attempt + 1
        run_id = derived_id("run", "retry", first, str(attempt))
        try:
            await self.store.append(
                run_stream(run_id),
                [
                    RunRequested(
                        run_id=run_id,
                        job_id=run.job_id,
                        trigger="retry",
                        spec=run.spec,
                        scheduled_for=run.scheduled_for,
                        attempt=attempt,
                        retry_of=first,
                        webhook_id=run.webhook_id,
                        delivery_id=run.delivery_id,
                        not_before=self.clock() + backoff_seconds(job, run.attempt),
                    )
                ],
                expected="no_stream",
                meta=Meta(actor="retrier", causation_id=str(rec.position)),
            )
        except ConcurrencyError:
            return None
        return run_id
