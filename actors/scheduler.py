"""The scheduler: sleeps until the earliest due fire, appends ``RunRequested``, re-plans on change.

A scheduled run's id is derived from (job id, nominal fire time) and appended with
``expected="no_stream"``, so a slot runs at most once however many schedulers share the log.
After downtime each job's catch-up policy decides what happens to missed slots; every missed
slot that does not run is a ``RunSkipped(missed)`` event, never silence.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Sequence

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actors.cron import fires_between, never_fires, next_fires
from actors.specs import resolve_spec
from events.backend import Backend
from events.envelope import AppendRequest, Meta, Recorded
from events.errors import ConcurrencyError, StorageUnavailable
from events.ids import job_stream, run_stream, scheduled_run_id
from events.jobs import JobScheduleBroken
from events.runs import RunRequested, RunSkipped
from projections.jobs import JOBS, JobView
from projections.queries import jobs as job_queries
from projections.read import get_row, select_rows
from projections.settings import SETTINGS, Settings, SettingsView, effective

log = logging.getLogger("runner.scheduler")
JOB_EVENTS = frozenset(
    {"JobCreated", "JobUpdated", "JobPaused", "JobResumed", "JobDeleted", "JobScheduleBroken"}
)
MAX_MISSED_RECORDED = 1000
META = Meta(actor="scheduler")
DOWN = "the runner was down"
MAX_STORAGE_BACKOFF = 30.0


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _iso(ts: float) -> str:
    return _utc(ts).isoformat(timespec="seconds")


class Scheduler:
    """Owns, per enabled cron job, the time of its next fire."""

    def __init__(self, store: Backend, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.jobs: dict[str, JobView] = {}
        self.next_fire: dict[str, float] = {}
        self.settings = Settings()
        self.fired = 0
        #: Jobs found unplannable, waiting to be recorded as ``JobScheduleBroken``.
        self.broken: dict[str, str] = {}
        #: Storage outages this process lived through: (start, end, cause), newest last.
        self.outages: list[tuple[float, float, str]] = []
        self.outage: tuple[float, str] | None = None

    async def run(self) -> None:
        """Run until cancelled."""
        head = await self.store.head()
        await self._load()
        send, receive = anyio.create_memory_object_stream[Recorded](10_000)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._feed, head, send)
            await self._catch_up_all()
            await self._loop(receive)

    async def _load(self) -> None:
        row: SettingsView | None = await get_row(self.store, SETTINGS, "settings")
        self.settings = effective(row.values if row else {})
        self.jobs = {j.job_id: j for j in await select_rows(self.store, JOBS, job_queries.ALL_ROWS)}

    async def _feed(self, head: int, send: MemoryObjectSendStream[Recorded]) -> None:
        """Forward job and settings events (the only ones that change the plan)."""
        async with send, self.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                if rec.type in JOB_EVENTS or rec.type == "SettingsChanged":
                    await send.send(rec)

    async def _loop(self, receive: MemoryObjectReceiveStream[Recorded]) -> None:
        while True:
            await self._record_broken()
            due = min(self.next_fire.values(), default=math.inf)
            delay = due - self.clock()
            if delay <= 0:
                await self._fire_due_or_wait()
                continue
            with anyio.move_on_after(min(delay, 3600.0)):
                rec = await receive.receive()
                await self._on_change(rec)
                while True:
                    try:
                        rec = receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    await self._on_change(rec)

    async def _fire_due_or_wait(self) -> None:
        """Fire what is due; while storage is unavailable, wait and retry with backoff.

        The slots that fall out of their catch-up window meanwhile are recorded, once storage
        is back, as missed because storage was unavailable (not "the runner was down").
        """
        backoff, start, cause = 0.5, self.clock(), ""
        while True:
            try:
                await self._fire_due()
                break
            except StorageUnavailable as exc:
                cause = exc.cause
                self.outage = (start, cause)
                log.warning("cannot record due fires (%s); retrying in %.1f s", exc, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, MAX_STORAGE_BACKOFF)
        self.outage = None
        if cause:
            self.outages = [*self.outages[-99:], (start, self.clock(), cause)]

    def _why_missed(self, slot: float) -> str:
        if self.outage is not None and slot >= self.outage[0] - 60:
            return f"storage was unavailable ({self.outage[1].replace('_', ' ')})"
        for start, end, cause in reversed(self.outages):
            if start - 60 <= slot <= end:
                return f"storage was unavailable ({cause.replace('_', ' ')})"
        return DOWN

    async def _record_broken(self) -> None:
        """Record each newly unplannable job once; it stays out of the plan until updated."""
        for job_id, error in list(self.broken.items()):
            job = self.jobs.get(job_id)
            del self.broken[job_id]
            if job is None or job.schedule_error == error:
                continue
            log.error("job %s cannot be scheduled: %s", job_id, error)
            try:
                await self.store.append(
                    job_stream(job_id),
                    [JobScheduleBroken(job_id=job_id, error=error)],
                    expected=job.version,
                    meta=META,
                )
            except ConcurrencyError:
                continue  # the job changed meanwhile: its new version is planned afresh

    async def _on_change(self, rec: Recorded) -> None:
        if rec.type == "SettingsChanged":
            row: SettingsView | None = await get_row(self.store, SETTINGS, "settings")
            self.settings = effective(row.values if row else {})
            return
        job_id = rec.stream.removeprefix("job-")
        job: JobView | None = await get_row(self.store, JOBS, job_id)
        self.next_fire.pop(job_id, None)
        if job is None:
            self.jobs.pop(job_id, None)
            return
        self.jobs[job_id] = job
        self._plan(job, after=self.clock())

    def _plan(self, job: JobView, *, after: float) -> None:
        """Plan the next fire; a job that cannot be planned is set aside as broken."""
        self.next_fire.pop(job.job_id, None)
        if not job.enabled or not job.spec.cron or job.schedule_error:
            return
        try:
            fires = next_fires(job.spec.cron, job.spec.timezone, _utc(after), 1)
            problem = None if fires else never_fires(job.spec.cron, _utc(after))
        except Exception as exc:  # one bad record must never stop the other jobs
            fires, problem = [], f"the schedule cannot be planned: {exc}"
        if fires:
            self.next_fire[job.job_id] = fires[0].timestamp()
        else:
            self.broken[job.job_id] = problem or "the schedule has no next fire"

    async def _catch_up_all(self) -> None:
        """Apply each job's catch-up policy to the slots missed while no scheduler ran."""
        now = self.clock()
        for job in list(self.jobs.values()):
            if not job.enabled or not job.spec.cron or job.schedule_error:
                continue
            baseline = max(job.last_scheduled_for or 0.0, job.updated_at_us / 1_000_000)
            try:
                missed = fires_between(job.spec.cron, job.spec.timezone, _utc(baseline), _utc(now))
                if missed:
                    await self._handle_missed(job, [m.timestamp() for m in missed], now)
            except StorageUnavailable:
                raise
            except Exception as exc:  # contain it to this job
                self.broken[job.job_id] = f"catching up failed: {type(exc).__name__}: {exc}"
                continue
            self._plan(job, after=now)

    async def _handle_missed(
        self, job: JobView, slots: Sequence[float], now: float, *, cause: str = DOWN
    ) -> None:
        window_start = now - job.spec.catch_up_window_seconds
        recent = [s for s in slots if s >= window_start]
        run: list[float] = []
        if job.spec.catch_up == "latest" and recent:
            run = [recent[-1]]
        elif job.spec.catch_up == "all":
            run = recent
        skipped = [s for s in slots if s not in run]
        if len(skipped) > MAX_MISSED_RECORDED:
            first, rest = skipped[:-MAX_MISSED_RECORDED], skipped[-MAX_MISSED_RECORDED:]
            await self._skip(
                job,
                first[0],
                f"{len(first)} slots missed between {_iso(first[0])} and {_iso(first[-1])} "
                f"while {cause}",
            )
            skipped = rest
        for slot in skipped:
            why = (
                "outside the catch-up window"
                if slot < window_start
                else f"catch-up policy is {job.spec.catch_up!r}"
            )
            await self._skip(job, slot, f"missed while {cause} ({why})")
        if run:
            await self._request(job, run, trigger="catch_up")

    async def _skip(self, job: JobView, slot: float, detail: str) -> None:
        run_id = scheduled_run_id(job.job_id, slot)
        try:
            await self.store.append(
                run_stream(run_id),
                [
                    RunSkipped(
                        run_id=run_id,
                        job_id=job.job_id,
                        reason="missed",
                        detail=detail,
                        scheduled_for=slot,
                    )
                ],
                expected="no_stream",
                meta=META,
            )
        except ConcurrencyError:
            pass  # another scheduler already decided this slot

    async def _request(self, job: JobView, slots: Sequence[float], *, trigger: str) -> None:
        spec = resolve_spec(job, self.settings)
        reqs = [
            AppendRequest(
                stream=run_stream(scheduled_run_id(job.job_id, slot)),
                events=(
                    RunRequested(
                        run_id=scheduled_run_id(job.job_id, slot),
                        job_id=job.job_id,
                        trigger=trigger,  # type: ignore[arg-type]
                        spec=spec,
                        scheduled_for=slot,
                    ),
                ),
                expected="no_stream",
                meta=META,
            )
            for slot in slots
        ]
        await self._append_each(reqs)

    async def _append_each(self, reqs: Sequence[AppendRequest]) -> None:
        """One transaction for all; if another scheduler beat us to a slot, one by one."""
        if not reqs:
            return
        try:
            await self.store.append_atomic(reqs)
            self.fired += len(reqs)
            return
        except ConcurrencyError:
            pass
        for req in reqs:
            try:
                await self.store.append_atomic([req])
                self.fired += 1
            except ConcurrencyError:
                continue

    async def _fire_due(self) -> None:
        now = self.clock()
        due = [(job_id, t) for job_id, t in self.next_fire.items() if t <= now]
        reqs: list[AppendRequest] = []
        late: list[tuple[JobView, float]] = []
        failed: list[tuple[JobView, float, str]] = []
        for job_id, t in due:
            job = self.jobs[job_id]
            if now - t > max(job.spec.catch_up_window_seconds, 60.0):
                late.append((job, t))  # the process was stalled: treat as missed slots
                continue
            run_id = scheduled_run_id(job_id, t)
            try:
                spec = resolve_spec(job, self.settings)
            except Exception as exc:  # contain it to this job
                failed.append((job, t, f"{type(exc).__name__}: {exc}"))
                continue
            reqs.append(
                AppendRequest(
                    stream=run_stream(run_id),
                    events=(
                        RunRequested(
                            run_id=run_id,
                            job_id=job_id,
                            trigger="schedule",
                            spec=spec,
                            scheduled_for=t,
                        ),
                    ),
                    expected="no_stream",
                    meta=META,
                )
            )
        await self._append_each(reqs)
        for job, t, error in failed:
            self.broken[job.job_id] = f"the run could not be prepared: {error}"
            await self._skip(job, t, f"missed because the job is broken: {error}")
        for job, t in late:
            slots = [t] + [
                f.timestamp()
                for f in fires_between(job.spec.cron or "", job.spec.timezone, _utc(t), _utc(now))
            ]
            await self._handle_missed(job, slots, now, cause=self._why_missed(t))
        for job_id, t in due:
            job = self.jobs[job_id]
            if job_id in self.broken:
                self.next_fire.pop(job_id, None)
                continue
            self._plan(job, after=max(t, now if (job, t) in late else t))
