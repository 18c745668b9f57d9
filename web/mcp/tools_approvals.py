"""Approval tools: the tool calls waiting for a person, and answering them."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from projections.approvals import ApprovalView
from runner.app import Runner
from web.mcp.server import READ, WRITE, RunnerMCP, actor


class ApprovalOut(BaseModel):
    approval_id: str
    run_id: str
    job_id: str | None
    job_name: str | None
    trigger: str
    tool: str = Field(description="the tool the run wants to call")
    input: dict[str, Any] = Field(description="the exact call, secrets redacted")
    reason: str = Field(description="why it needs approval")
    state: str = Field(description="pending | approved | denied | timed_out | withdrawn")
    seconds_left: int = Field(description="until it is denied automatically (pending only)")
    on_timeout: str
    message: str = ""
    answered_by: str | None = None


class ApprovalList(BaseModel):
    approvals: list[ApprovalOut]


def approval_out(a: ApprovalView) -> ApprovalOut:
    left = max(0, round(a.deadline - time.time())) if a.state == "pending" else 0
    return ApprovalOut(
        approval_id=a.approval_id,
        run_id=a.run_id,
        job_id=a.job_id,
        job_name=a.job_name,
        trigger=a.trigger,
        tool=a.tool,
        input=a.input,
        reason=a.reason,
        state=a.state,
        seconds_left=left,
        on_timeout=a.on_timeout,
        message=a.message,
        answered_by=a.answered_by,
    )


def register(mcp: RunnerMCP, runner: Runner) -> None:
    @mcp.tool(annotations=READ)
    async def list_pending_approvals(
        run_id: Annotated[str | None, Field(description="only this run's requests")] = None,
    ) -> ApprovalList:
        """Tool calls of running jobs that wait for a person's approval, oldest first. Show
        the user the tool and its input, then call answer_approval with their decision."""
        rows = await runner.approvals.pending(run_id=run_id, limit=200)
        return ApprovalList(approvals=[approval_out(a) for a in rows])

    @mcp.tool(annotations=WRITE)
    async def answer_approval(
        approval_id: Annotated[str, Field(description="from list_pending_approvals")],
        decision: Annotated[Literal["approved", "denied"], Field(description="the user's answer")],
        message: Annotated[
            str, Field(max_length=2000, description="with a denial: what the run is told")
        ] = "",
    ) -> ApprovalOut:
        """Approve or deny one waiting tool call. Only answer with the user's own decision:
        never approve on your own initiative."""
        row = await runner.approvals.answer(approval_id, decision, by=actor(), message=message)
        return approval_out(row)
