"""The runs view: each run's state machine, timings, usage and cost; and each job's last outcome."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.envelope import Recorded
from events.integrity import ContentErased
from events.nodes import RunAwaitingNode
from events.runs import (
    RunCancelled,
    RunCancelRequested,
    RunClaimed,
    RunCrashed,
    RunFailed,
    RunRequested,
    RunResult,
    RunSkipped,
    RunSpec,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunToolDenied,
    RunUsage,
    Usage,
)
from projections.base import Change, Table, View, simple_projection
from projections.jobs import JOBS, JobView

ACTIVE_STATES = frozenset({"requested", "claimed", "running"})
TERMINAL_STATES = frozenset({"succeeded", "failed", "timed_out", "cancelled", "crashed", "skipped"})


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    job_id: str | None
    trigger: str
    state: str
    spec: RunSpec
    requested_at_us: int
    attempt: int = 1
    retry_of: str | None = None
    webhook_id: str | None = None
    delivery_id: str | None = None
    scheduled_for: float | None = None
    not_before: float | None = None
    job_name: str | None = None
    claimed_at_us: int | None = None
    started_at_us: int | None = None
    finished_at_us: int | None = None
    claimer: str | None = None
    workspace: str | None = None
    reason: str | None = None
    message: str | None = None
    retryable: bool = False
    cancel_requested: bool = False
    usage: Usage = Usage()
    cost_usd: float = 0.0
    model: str | None = None
    num_turns: int = 0
    duration_ms: int = 0
    session_id: str | None = None
    result_text: str = ""
    outputs: int = 0
    """Output blocks; filled in by queries from v_run_output (counting here would rewrite the
    row for every block of every run)."""
    denials: int = 0
    version: int = 0
    """The run stream's version as of the last lifecycle event (not output blocks)."""
    requested_by: str = ""
    """Who asked for the run: the ``RunRequested`` event's actor (``admin``, ``cli``,
    ``mcp:<subject>@<client>``, ``scheduler``…); empty for rows folded before it was kept."""
    node: str = ""
    """The name of the node that claimed the run (empty before nodes had names)."""
    awaiting_node: str | None = None
    """The node label this queued run waits for, once a claimer found no live node with it."""


RUNS = Table(
    name="v_runs",
    row_type=RunView,
    columns=(
        ("job_id", "TEXT"),
        ("state", "TEXT"),
        ("trigger", "TEXT"),
        ("requested_at", "INTEGER"),
        ("finished_at", "INTEGER"),
        ("webhook_id", "TEXT"),
        ("cost_usd", "REAL"),
    ),
    extract=lambda r: (
        r.job_id,
        r.state,
        r.trigger,
        r.requested_at_us,
        r.finished_at_us,
        r.webhook_id,
        r.cost_usd,
    ),
    indexes=(
        "requested_at",
        "job_id, requested_at",
        "state, requested_at",
        "trigger, requested_at",
        "webhook_id, requested_at",
        "finished_at",
    ),
    # Finished runs live in the view table only: memory follows live work, not history.
    keep=lambda r: r.state in ACTIVE_STATES,
    keep_sql="state IN ('requested', 'claimed', 'running')",
)

RESULT_PREVIEW = 4000


def _run(view: View, run_id: str) -> RunView | None:
    row: RunView | None = view.get(RUNS.name, run_id)
    return row


def _mark_slot(job: JobView | None, slot: float | None) -> Iterable[Change]:
    """Remember the latest scheduled slot handled, so a restart knows what it missed."""
    if job is not None and slot is not None and (job.last_scheduled_for or 0) < slot:
        yield (JOBS.name, job.job_id, msgspec.structs.replace(job, last_scheduled_for=slot))


def _requested(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, RunRequested)
    job: JobView | None = view.get(JOBS.name, ev.job_id) if ev.job_id else None
    yield from _mark_slot(job, ev.scheduled_for)
    yield (
        RUNS.name,
        ev.run_id,
        RunView(
            run_id=ev.run_id,
            job_id=ev.job_id,
            trigger=ev.trigger,
            state="requested",
            spec=ev.spec,
            requested_at_us=rec.recorded_at_us,
            attempt=ev.attempt,
            retry_of=ev.retry_of,
            webhook_id=ev.webhook_id,
            delivery_id=ev.delivery_id,
            scheduled_for=ev.scheduled_for,
            not_before=ev.not_before,
            job_name=job.spec.name if job else None,
            model=ev.spec.model,
            version=rec.version,
            requested_by=rec.meta.actor,
        ),
    )


def _finish(
    view: View,
    rec: Recorded,
    run: RunView,
    state: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    result: RunResult | None = None,
    retryable: bool = False,
    result_text: str | None = None,
) -> Iterable[Change]:
    changes: dict[str, object] = {
        "state": state,
        "finished_at_us": rec.recorded_at_us,
        "reason": reason,
        "message": message,
        "retryable": retryable,
        "version": rec.version,
    }
    if result is not None:
        changes.update(
            usage=result.usage,
            cost_usd=result.cost_usd,
            num_turns=result.num_turns,
            duration_ms=result.duration_ms,
            model=result.model or run.model,
            session_id=result.session_id,
        )
    if result_text is not None:
        changes["result_text"] = result_text[:RESULT_PREVIEW]
    done = msgspec.structs.replace(run, **changes)
    yield (RUNS.name, run.run_id, done)
    if run.job_id:
        job: JobView | None = view.get(JOBS.name, run.job_id)
        if job is not None:
            yield (
                JOBS.name,
                job.job_id,
                msgspec.structs.replace(
                    job,
                    last_run_id=run.run_id,
                    last_state=state,
                    last_finished_at_us=rec.recorded_at_us,
                    run_count=job.run_count + (0 if state == "skipped" else 1),
                    cost_usd=job.cost_usd + done.cost_usd,
                ),
            )


def _lifecycle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    run = _run(view, ev.run_id)  # type: ignore[union-attr]
    if run is None or run.state in TERMINAL_STATES:
        return
    match ev:
        case RunAwaitingNode():
            yield (
                RUNS.name,
                run.run_id,
                msgspec.structs.replace(run, awaiting_node=ev.label, version=rec.version),
            )
        case RunClaimed():
            yield (
                RUNS.name,
                run.run_id,
                msgspec.structs.replace(
                    run,
                    state="claimed",
                    claimer=ev.claimer,
                    node=ev.node,
                    claimed_at_us=rec.recorded_at_us,
                    version=rec.version,
                ),
            )
        case RunStarted():
            yield (
                RUNS.name,
                run.run_id,
                msgspec.structs.replace(
                    run,
                    state="running",
                    started_at_us=rec.recorded_at_us,
                    workspace=ev.workspace,
                    model=ev.model or run.model,
                    version=rec.version,
                ),
            )
        case RunToolDenied():
            yield (
                RUNS.name,
                run.run_id,
                msgspec.structs.replace(run, denials=run.denials + 1, version=rec.version),
            )
        case RunUsage():
            yield (
                RUNS.name,
                run.run_id,
                msgspec.structs.replace(
                    run,
                    usage=run.usage + ev.usage,
                    model=ev.model or run.model,
                    version=rec.version,
                ),
            )
        case RunCancelRequested():
            yield (
                RUNS.name,
                run.run_id,
                msgspec.structs.replace(run, cancel_requested=True, version=rec.version),
            )
        case RunSucceeded():
            yield from _finish(
                view, rec, run, "succeeded", result=ev.result, result_text=ev.result_text
            )
        case RunFailed():
            yield from _finish(
                view,
                rec,
                run,
                "failed",
                reason=ev.reason,
                message=ev.message,
                result=ev.result,
                retryable=ev.retryable,
            )
        case RunTimedOut():
            yield from _finish(
                view,
                rec,
                run,
                "timed_out",
                reason="timeout",
                message=f"timed out after {ev.timeout_seconds:g} s",
                result=ev.result,
            )
        case RunCancelled():
            yield from _finish(
                view, rec, run, "cancelled", reason="cancelled", message=ev.reason, result=ev.result
            )
        case RunCrashed():
            yield from _finish(
                view, rec, run, "crashed", reason="crashed", message=ev.detail, retryable=True
            )
        case RunSkipped():
            yield from _finish(view, rec, run, "skipped", reason=ev.reason, message=ev.detail)


def _skipped(view: View, rec: Recorded) -> Iterable[Change]:
    """A skip may be the first event of its stream (a missed slot never requested)."""
    ev = rec.event
    assert isinstance(ev, RunSkipped)
    if _run(view, ev.run_id) is None:
        job: JobView | None = view.get(JOBS.name, ev.job_id) if ev.job_id else None
        yield from _mark_slot(job, ev.scheduled_for)
        if job is not None and ev.scheduled_for is not None:
            job = view.get(JOBS.name, job.job_id)
        spec = RunSpec(prompt=job.spec.prompt if job else "")
        run = RunView(
            run_id=ev.run_id,
            job_id=ev.job_id,
            trigger="schedule",
            state="requested",
            spec=spec,
            requested_at_us=rec.recorded_at_us,
            scheduled_for=ev.scheduled_for,
            job_name=job.spec.name if job else None,
        )
        yield from _finish(view, rec, run, "skipped", reason=ev.reason, message=ev.detail)
        return
    yield from _lifecycle(view, rec)


def _erased(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ContentErased)
    run = _run(view, ev.run_id)
    if run is None:
        return
    text = "[erased]" if run.result_text else ""
    if run.trigger == "webhook":  # its prompt may quote the webhook body: erased with it
        run = msgspec.structs.replace(
            run, spec=msgspec.structs.replace(run.spec, prompt="[erased]")
        )
    yield (
        RUNS.name,
        run.run_id,
        msgspec.structs.replace(run, result_text=text, version=rec.version),
    )


runs_projection = simple_projection(
    "runs",
    (RUNS,),
    {
        RunRequested: _requested,
        RunSkipped: _skipped,
        RunClaimed: _lifecycle,
        RunAwaitingNode: _lifecycle,
        RunStarted: _lifecycle,
        RunToolDenied: _lifecycle,
        RunUsage: _lifecycle,
        RunCancelRequested: _lifecycle,
        RunSucceeded: _lifecycle,
        RunFailed: _lifecycle,
        RunTimedOut: _lifecycle,
        RunCancelled: _lifecycle,
        RunCrashed: _lifecycle,
        ContentErased: _erased,
    },
)
