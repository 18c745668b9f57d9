"""What the claimer decided about a run just requested: claimed, skipped (why), or still queued
(why). ``trigger_job`` waits briefly for that decision instead of answering "requested" for a run
the overlap policy skips a few milliseconds later.
"""

from __future__ import annotations

import time
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from events.ids import run_stream
from events.runs import TERMINAL_RUN_EVENTS, RunClaimed, RunStarted
from projections import RunView
from runner.app import Runner

Decision = Literal["claimed", "running", "skipped", "cancelled", "finished", "queued"]


class AdmissionOut(BaseModel):
    """The admission decision for a new run."""

    decision: Decision = Field(
        description="claimed/running = admitted; skipped = will never run (see reason); "
        "cancelled; finished; queued = not admitted yet (see reason)"
    )
    reason: str | None = Field(
        description="skipped: overlap | budget | job_deleted | ...; queued: concurrency_limit "
        "| overlap_buffered | retry_delay | no_decision_yet"
    )
    detail: str = Field(description="the decision in words, with what to do about it")
    waited_seconds: float = Field(description="how long the tool waited for the decision")


async def await_decision(runner: Runner, run_id: str, *, head: int, wait: float) -> None:
    """Return once *run_id* was claimed, started, skipped or ended, or after *wait* seconds.

    *head* is the log position before the run was requested, so nothing is missed."""
    if wait <= 0:
        return
    stream = run_stream(run_id)
    with anyio.move_on_after(wait):
        async with runner.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                if rec.stream == stream and isinstance(
                    rec.event, (RunClaimed, RunStarted, *TERMINAL_RUN_EVENTS)
                ):
                    return


async def _queued_reason(runner: Runner, run: RunView, wait: float) -> tuple[str, str]:
    now = time.time()
    if run.not_before is not None and run.not_before > now:
        return "retry_delay", f"it may start in {run.not_before - now:.0f} s (retry backoff)"
    active = await runner.queries.active_runs()
    busy = [r for r in active if r.state in ("claimed", "running") and r.run_id != run.run_id]
    if run.job_id and any(r.job_id == run.job_id for r in busy):
        job = await runner.queries.job(run.job_id)
        if job.spec.overlap in ("buffer_one", "cancel_previous"):
            return (
                "overlap_buffered",
                f"a run of this job is still going; the {job.spec.overlap} policy starts this "
                "one after it",
            )
    limit = (await runner.queries.settings()).max_concurrent_runs
    if len(busy) >= limit:
        return (
            "concurrency_limit",
            f"{len(busy)} of {limit} run slots are busy (max_concurrent_runs); it starts when one "
            "frees up, in request order",
        )
    return (
        "no_decision_yet",
        f"no claimer admitted it within {wait:g} s: runs are admitted by `runner serve` within "
        "milliseconds, so the service is probably not running (get_health shows it); it starts "
        "once the service runs",
    )


async def admission(runner: Runner, run: RunView, *, wait: float, waited: float) -> AdmissionOut:
    """The decision shown for *run* (already re-read after the wait)."""
    rounded = round(waited, 3)
    if run.state == "skipped":
        return AdmissionOut(
            decision="skipped",
            reason=run.reason,
            detail=f"skipped: {run.message or run.reason}; this run will not start",
            waited_seconds=rounded,
        )
    if run.state in ("claimed", "running"):
        return AdmissionOut(
            decision=run.state,  # type: ignore[arg-type]
            reason=None,
            detail="admitted; follow it with wait_for_run(run_id)",
            waited_seconds=rounded,
        )
    if run.state == "cancelled":
        return AdmissionOut(
            decision="cancelled",
            reason=run.reason,
            detail=f"cancelled before it started: {run.message or ''}".rstrip(": "),
            waited_seconds=rounded,
        )
    if run.state != "requested":
        return AdmissionOut(
            decision="finished",
            reason=run.reason,
            detail=f"already {run.state}; see get_run",
            waited_seconds=rounded,
        )
    reason, detail = await _queued_reason(runner, run, wait)
    return AdmissionOut(
        decision="queued", reason=reason, detail=f"queued: {detail}", waited_seconds=rounded
    )
