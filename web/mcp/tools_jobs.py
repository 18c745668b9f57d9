"""Job tools: list, get, create, update, delete, trigger, pause, resume."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from runner.app import Runner
from runner.errors import InvalidInput
from web.mcp.admission import AdmissionOut, admission, await_decision
from web.mcp.models import (
    JobDeletedOut,
    JobList,
    JobOut,
    JobResult,
    RunOut,
    job_out,
    page_info,
    run_out,
)
from web.mcp.params import (
    BudgetUsd,
    Limit,
    MaxTurns,
    ModelName,
    NewName,
    NodeLabel,
    Offset,
    ServerNames,
    TimeoutSeconds,
    ToolNames,
)
from web.mcp.refs import job_ref
from web.mcp.server import DESTRUCTIVE, IDEMPOTENT, OPEN_WRITE, READ, WRITE, RunnerMCP, actor

JobId = Annotated[
    str,
    Field(
        description="a job id such as 'job_1a2b3c4d5e6f' (see list_jobs), or the job's exact name"
    ),
]
Cron = Annotated[
    str | None,
    Field(
        description="5-field cron 'minute hour day-of-month month day-of-week', e.g. "
        "'0 7 * * 1-5' = 07:00 on weekdays; null or 'manual' = run only when triggered"
    ),
]
Timezone = Annotated[str, Field(description="IANA time zone for the cron, e.g. 'Europe/Paris'")]
AskFirst = Annotated[
    list[str] | None,
    Field(
        description="tools that wait for a person's approval call by call (dashboard, phone, "
        "answer_approval): built-ins such as 'Bash' or 'Write', 'mcp__<server>__<tool>', or "
        "'mcp__<server>__*' for every tool of a server; e.g. ['mcp__email__send']"
    ),
]
ApprovalTimeout = Annotated[
    float | None,
    Field(gt=0, le=604800, description="seconds to wait for an answer (default 3600)"),
]
OnTimeout = Literal["deny_and_continue", "fail_run"]
Overlap = Literal["skip", "buffer_one", "allow", "cancel_previous"]
CatchUp = Literal["skip", "latest", "all"]
OVERLAP_HELP = (
    "when the previous run is still going at the next fire: skip the new run, buffer_one "
    "(queue at most one), allow (run both), cancel_previous"
)
CATCH_UP_HELP = "fires missed while the service was down: skip, latest (run once) or all"


class RetryIn(BaseModel):
    """Retry of transient failures (API errors, crashes) with exponential backoff."""

    max_attempts: Annotated[
        int, Field(ge=1, le=10, description="attempts in all, 1 = no retry (max 10)")
    ] = 1
    backoff_seconds: Annotated[
        float, Field(ge=0, description="wait before the first retry (seconds)")
    ] = 30.0
    backoff_factor: Annotated[
        float, Field(ge=1, description="each further wait is this many times longer")
    ] = 2.0


Retry = Annotated[
    RetryIn | None,
    Field(description="retry transient failures: {max_attempts, backoff_seconds, backoff_factor}"),
]


class TriggeredRunOut(RunOut):
    """The run just requested, and what admission decided about it."""

    admission: AdmissionOut


def _fields(**values: Any) -> dict[str, Any]:
    """Only the fields the caller gave (None = not given)."""
    out = {k: v for k, v in values.items() if v is not None}
    if "retry" in out and isinstance(out["retry"], BaseModel):
        out["retry"] = out["retry"].model_dump()
    return out


def register(mcp: RunnerMCP, runner: Runner) -> None:
    async def ref(job: str) -> str:
        return await job_ref(runner, job)

    @mcp.tool(annotations=READ)
    async def list_jobs(
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> JobList:
        """List jobs, newest first, with schedule, next fire time and last outcome."""
        page = await runner.queries.jobs(limit=limit, offset=offset)
        jobs = [job_out(j) for j in page.items]
        return JobList(jobs=jobs, page=page_info(page.total, page.limit, offset, len(jobs)))

    @mcp.tool(annotations=READ)
    async def get_job(job_id: JobId) -> JobOut:
        """Get one job's full definition and its last outcome."""
        job_id = await ref(job_id)
        return job_out(await runner.queries.job(job_id))

    @mcp.tool(annotations=WRITE)
    async def create_job(
        name: Annotated[str, Field(description="unique, human-readable name")],
        prompt: Annotated[str, Field(description="what Claude should do on each run")],
        cron: Cron = None,
        timezone: Timezone = "UTC",
        enabled: Annotated[bool, Field(description="false = created paused")] = True,
        tools: ToolNames = None,
        mcp_servers: ServerNames = None,
        model: ModelName = None,
        timeout_seconds: TimeoutSeconds = None,
        max_turns: MaxTurns = None,
        budget_usd: BudgetUsd = None,
        overlap: Annotated[Overlap, Field(description=OVERLAP_HELP)] = "skip",
        catch_up: Annotated[CatchUp, Field(description=CATCH_UP_HELP)] = "skip",
        retry: Retry = None,
        ask_first: AskFirst = None,
        approval_timeout_seconds: ApprovalTimeout = None,
        approval_on_timeout: Annotated[
            OnTimeout, Field(description="when nobody answers in time: deny, or end the run")
        ] = "deny_and_continue",
        node_label: NodeLabel = None,
    ) -> JobResult:
        """Create a job. With a cron it runs on that schedule; without, only when triggered.

        The result includes warnings such as normalised tool names. Example: name="AI news",
        prompt="Summarise today's AI news", cron="0 7 * * *", timezone="Europe/Paris",
        tools=["WebSearch", "WebFetch"]. To have a person approve e.g. each email first:
        mcp_servers=["email"], ask_first=["mcp__email__send"].
        """
        data = _fields(
            name=name,
            prompt=prompt,
            cron=cron,
            timezone=timezone,
            enabled=enabled,
            tools=tools,
            mcp_servers=mcp_servers,
            model=model,
            timeout_seconds=timeout_seconds,
            max_turns=max_turns,
            budget_usd=budget_usd,
            overlap=overlap,
            catch_up=catch_up,
            retry=retry,
            ask_first=ask_first,
            approval_timeout_seconds=approval_timeout_seconds,
            approval_on_timeout=approval_on_timeout,
            node_label=node_label,
        )
        job, warnings = await runner.jobs.create(data, actor=actor())
        return JobResult(job=job_out(job), warnings=warnings)

    @mcp.tool(annotations=IDEMPOTENT)
    async def update_job(
        job_id: JobId,
        name: NewName = None,
        prompt: Annotated[str | None, Field(description="new prompt; left out: unchanged")] = None,
        cron: Annotated[
            str | None,
            Field(description="new 5-field cron, e.g. '30 6 * * *'; 'manual' removes the schedule"),
        ] = None,
        timezone: Annotated[str | None, Field(description="IANA time zone")] = None,
        enabled: Annotated[
            bool | None, Field(description="false pauses the schedule, true resumes it")
        ] = None,
        tools: ToolNames = None,
        mcp_servers: ServerNames = None,
        model: ModelName = None,
        timeout_seconds: TimeoutSeconds = None,
        max_turns: MaxTurns = None,
        budget_usd: BudgetUsd = None,
        overlap: Annotated[Overlap | None, Field(description=OVERLAP_HELP)] = None,
        catch_up: Annotated[CatchUp | None, Field(description=CATCH_UP_HELP)] = None,
        retry: Retry = None,
        ask_first: AskFirst = None,
        approval_timeout_seconds: ApprovalTimeout = None,
        approval_on_timeout: Annotated[
            OnTimeout | None, Field(description="when nobody answers in time: deny, or end the run")
        ] = None,
        node_label: NodeLabel = None,
        expected_version: Annotated[
            int | None,
            Field(description="the job's version as you read it; refuses if it changed since"),
        ] = None,
    ) -> JobResult:
        """Change some fields of a job; fields left out keep their value."""
        job_id = await ref(job_id)
        data = _fields(
            name=name,
            prompt=prompt,
            timezone=timezone,
            enabled=enabled,
            tools=tools,
            mcp_servers=mcp_servers,
            model=model,
            timeout_seconds=timeout_seconds,
            max_turns=max_turns,
            budget_usd=budget_usd,
            overlap=overlap,
            catch_up=catch_up,
            retry=retry,
            ask_first=ask_first,
            approval_timeout_seconds=approval_timeout_seconds,
            approval_on_timeout=approval_on_timeout,
            node_label=node_label,
        )
        if cron is not None:
            data["cron"] = None if cron.strip() in ("", "manual") else cron
        if not data:
            raise InvalidInput("nothing to update: give at least one field to change")
        job, warnings = await runner.jobs.update(
            job_id, data, actor=actor(), expected_version=expected_version
        )
        return JobResult(job=job_out(job), warnings=warnings)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_job(job_id: JobId) -> JobDeletedOut:
        """Delete a job for good. Its queued and running runs are cancelled; history stays."""
        job_id = await ref(job_id)
        job = await runner.queries.job(job_id)
        cancelled = await runner.jobs.delete(job_id, actor=actor())
        return JobDeletedOut(
            job_id=job_id, name=job.spec.name, deleted=True, cancelled_runs=cancelled
        )

    @mcp.tool(annotations=OPEN_WRITE)
    async def trigger_job(
        job_id: JobId,
        wait_seconds: Annotated[
            float,
            Field(
                ge=0,
                le=10,
                description="how long to wait for the admission decision (claimed, skipped or "
                "queued); 0 = answer at once",
            ),
        ] = 2.0,
    ) -> TriggeredRunOut:
        """Run a job now (also when paused) and say what admission decided: claimed (it
        starts), skipped (e.g. the overlap policy: a previous run is still going; budget) or
        queued (concurrency limit, no service running), with the reason. Follow a started run
        with wait_for_run(run_id)."""
        job_id = await ref(job_id)
        head = await runner.store.head()
        started = time.monotonic()
        run = await runner.runs.request_job(job_id, trigger="mcp", actor=actor())
        await await_decision(runner, run.run_id, head=head, wait=wait_seconds)
        waited = time.monotonic() - started
        run = await runner.queries.run(run.run_id)
        decided = await admission(runner, run, wait=wait_seconds, waited=waited)
        return TriggeredRunOut(**run_out(run).model_dump(), admission=decided)

    @mcp.tool(annotations=IDEMPOTENT)
    async def pause_job(
        job_id: JobId,
        reason: Annotated[str | None, Field(description="why, shown in the history")] = None,
    ) -> JobOut:
        """Pause a job's schedule (no scheduled runs until resumed). Already paused: no-op."""
        job_id = await ref(job_id)
        return job_out(await runner.jobs.pause(job_id, actor=actor(), reason=reason))

    @mcp.tool(annotations=IDEMPOTENT)
    async def resume_job(job_id: JobId) -> JobOut:
        """Resume a paused job's schedule. Already running on schedule: no-op."""
        job_id = await ref(job_id)
        return job_out(await runner.jobs.resume(job_id, actor=actor()))
