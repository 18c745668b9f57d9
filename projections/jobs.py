"""The jobs view: each job's current definition, state and last outcome."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.envelope import Recorded
from events.jobs import (
    JobCreated,
    JobDeleted,
    JobPaused,
    JobResumed,
    JobScheduleBroken,
    JobSpec,
    JobUpdated,
)
from projections.base import Change, Table, View, simple_projection


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    spec: JobSpec
    enabled: bool
    created_at_us: int
    updated_at_us: int
    version: int
    last_run_id: str | None = None
    last_state: str | None = None
    last_finished_at_us: int | None = None
    run_count: int = 0
    cost_usd: float = 0.0
    last_scheduled_for: float | None = None
    #: Why the scheduler cannot plan this job (``JobScheduleBroken``); cleared by an update.
    schedule_error: str | None = None


JOBS = Table(
    name="v_jobs",
    row_type=JobView,
    columns=(("name", "TEXT"), ("enabled", "INTEGER"), ("created_at", "INTEGER")),
    extract=lambda r: (r.spec.name, int(r.enabled), r.created_at_us),
    indexes=("name", "created_at"),
)


def _created(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, JobCreated)
    yield (
        JOBS.name,
        ev.job_id,
        JobView(
            job_id=ev.job_id,
            spec=ev.spec,
            enabled=ev.spec.enabled,
            created_at_us=rec.recorded_at_us,
            updated_at_us=rec.recorded_at_us,
            version=rec.version,
        ),
    )


def _updated(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, JobUpdated)
    cur: JobView | None = view.get(JOBS.name, ev.job_id)
    if cur is not None:
        yield (
            JOBS.name,
            ev.job_id,
            msgspec.structs.replace(
                cur,
                spec=ev.spec,
                enabled=ev.spec.enabled,
                updated_at_us=rec.recorded_at_us,
                version=rec.version,
                schedule_error=None,
            ),
        )


def _broken(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, JobScheduleBroken)
    cur: JobView | None = view.get(JOBS.name, ev.job_id)
    if cur is not None:
        yield (
            JOBS.name,
            ev.job_id,
            msgspec.structs.replace(cur, schedule_error=ev.error, version=rec.version),
        )


def _toggle(enabled: bool) -> object:
    def handler(view: View, rec: Recorded) -> Iterable[Change]:
        ev = rec.event
        assert isinstance(ev, JobPaused | JobResumed)
        cur: JobView | None = view.get(JOBS.name, ev.job_id)
        if cur is not None:
            spec = msgspec.structs.replace(cur.spec, enabled=enabled)
            yield (
                JOBS.name,
                ev.job_id,
                msgspec.structs.replace(
                    cur,
                    spec=spec,
                    enabled=enabled,
                    updated_at_us=rec.recorded_at_us,
                    version=rec.version,
                ),
            )

    return handler


def _deleted(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, JobDeleted)
    yield (JOBS.name, ev.job_id, None)


jobs_projection = simple_projection(
    "jobs",
    (JOBS,),
    {
        JobCreated: _created,
        JobUpdated: _updated,
        JobPaused: _toggle(False),  # type: ignore[dict-item]
        JobResumed: _toggle(True),  # type: ignore[dict-item]
        JobDeleted: _deleted,
        JobScheduleBroken: _broken,
    },
)
