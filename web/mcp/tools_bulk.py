"""MCP tool ``cancel_runs``: bulk cancel by job, webhook or trigger (a flood's answer)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from runner.app import Runner
from runner.commands.bulk_cancel import CancelFilter
from web.mcp.server import DESTRUCTIVE_ONCE, RunnerMCP, actor


class CancelRunsOut(BaseModel):
    matched: int = Field(description="runs the filter selected")
    cancelled: int = Field(description="queued runs cancelled (they never start)")
    cancel_requested: int = Field(description="running runs asked to stop")
    skipped: int = Field(description="runs that finished (or were already stopping) meanwhile")


def register(mcp: RunnerMCP, runner: Runner) -> None:
    @mcp.tool(annotations=DESTRUCTIVE_ONCE)
    async def cancel_runs(
        job_id: Annotated[str | None, Field(description="cancel this job's runs")] = None,
        webhook_id: Annotated[
            str | None, Field(description="cancel the runs this webhook queued")
        ] = None,
        trigger: Annotated[
            str | None,
            Field(description="only runs with this trigger (schedule, webhook, manual, ...)"),
        ] = None,
        include_running: Annotated[
            bool, Field(description="also stop runs that already started")
        ] = False,
        all_queued: Annotated[
            bool, Field(description="allow no job/webhook/trigger: every queued run")
        ] = False,
        reason: Annotated[str, Field(description="why, shown in each run's history")] = "",
    ) -> CancelRunsOut:
        """Cancel many runs at once: every queued run (and, with include_running, every
        running one) of a job, a webhook or a trigger. Returns how many were cancelled."""
        result = await runner.bulk_cancel.cancel(
            CancelFilter(job_id=job_id, webhook_id=webhook_id, trigger=trigger,
                         include_running=include_running, everything=all_queued),
            actor=actor(),
            reason=reason[:500],
        )  # fmt: skip
        return CancelRunsOut(
            matched=result.matched,
            cancelled=result.cancelled,
            cancel_requested=result.cancel_requested,
            skipped=result.skipped,
        )
