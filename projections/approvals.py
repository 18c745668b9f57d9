"""The approvals view: every ask-first request of every run, and how (and by whom) it ended."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from events.approvals import (
    ApprovalAnswered,
    ApprovalTimedOut,
    ApprovalWithdrawn,
    RunAwaitingApproval,
)
from events.envelope import Recorded
from projections.base import Change, Table, View, simple_projection
from projections.runs import RUNS, RunView

__all__ = ["APPROVALS", "ApprovalView", "approvals_projection"]


class ApprovalView(msgspec.Struct, frozen=True, kw_only=True):
    approval_id: str
    run_id: str
    job_id: str | None
    job_name: str | None
    trigger: str
    tool: str
    input: dict[str, Any]
    reason: str
    deadline: float
    on_timeout: str
    requested_at_us: int
    state: str = "pending"
    """pending | approved | denied | timed_out | withdrawn"""
    message: str = ""
    answered_by: str | None = None
    answered_at_us: int | None = None
    new_run_id: str | None = None
    tool_use_id: str | None = None
    version: int = 0
    """The request's version in the run stream."""


APPROVALS = Table(
    name="v_approvals",
    row_type=ApprovalView,
    columns=(("run_id", "TEXT"), ("state", "TEXT"), ("requested_at", "INTEGER")),
    extract=lambda r: (r.run_id, r.state, r.requested_at_us),
    indexes=("state, requested_at", "run_id"),
)


def _asked(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, RunAwaitingApproval)
    run: RunView | None = view.get(RUNS.name, ev.run_id)
    yield (
        APPROVALS.name,
        ev.approval_id,
        ApprovalView(
            approval_id=ev.approval_id,
            run_id=ev.run_id,
            job_id=ev.job_id,
            job_name=run.job_name if run else None,
            trigger=run.trigger if run else "",
            tool=ev.tool,
            input=ev.input,
            reason=ev.reason,
            deadline=ev.deadline,
            on_timeout=ev.on_timeout,
            requested_at_us=rec.recorded_at_us,
            tool_use_id=ev.tool_use_id,
            version=rec.version,
        ),
    )


def _resolved(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ApprovalAnswered | ApprovalTimedOut | ApprovalWithdrawn)
    row: ApprovalView | None = view.get(APPROVALS.name, ev.approval_id)
    if row is None or row.state != "pending":
        return
    if isinstance(ev, ApprovalAnswered):
        row = msgspec.structs.replace(row, state=ev.decision, message=ev.message, answered_by=ev.by)
    elif isinstance(ev, ApprovalTimedOut):
        row = msgspec.structs.replace(row, state="timed_out")
    else:
        row = msgspec.structs.replace(
            row, state="withdrawn", message=ev.reason, new_run_id=ev.new_run_id
        )
    yield (
        APPROVALS.name,
        ev.approval_id,
        msgspec.structs.replace(row, answered_at_us=rec.recorded_at_us),
    )


approvals_projection = simple_projection(
    "approvals",
    (APPROVALS,),
    {
        RunAwaitingApproval: _asked,
        ApprovalAnswered: _resolved,
        ApprovalTimedOut: _resolved,
        ApprovalWithdrawn: _resolved,
    },
)
