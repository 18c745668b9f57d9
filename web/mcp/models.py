"""Pydantic shapes at the MCP boundary (MCPServer builds schemas from pydantic, not msgspec).

Views stay msgspec inside the runner; ``job_out`` / ``run_out`` convert them here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from pydantic import BaseModel, Field

from actors.cron import CronError, describe, next_fires
from projections import JobView, RunView


def iso(us: int | None) -> str | None:
    """Microseconds since the epoch as an ISO-8601 UTC timestamp."""
    if us is None:
        return None
    return dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC).isoformat()


def iso_s(seconds: float | None) -> str | None:
    return None if seconds is None else iso(int(seconds * 1_000_000))


class RetryOut(BaseModel):
    max_attempts: int
    backoff_seconds: float
    backoff_factor: float
    max_backoff_seconds: float


class JobOut(BaseModel):
    """A job: its definition, whether it is scheduled, and its last outcome."""

    job_id: str
    name: str
    prompt: str
    cron: str | None = Field(description="5-field cron expression; null = manual only")
    schedule: str = Field(description="the schedule in words")
    timezone: str
    enabled: bool = Field(description="false while paused: no scheduled runs")
    next_run_at: str | None = Field(description="next scheduled fire (UTC), if enabled")
    model: str | None
    tools: list[str]
    mcp_servers: list[str]
    timeout_seconds: float | None
    max_turns: int | None
    budget_usd: float | None
    retry: RetryOut
    overlap: str
    catch_up: str
    catch_up_window_seconds: float
    created_at: str | None
    updated_at: str | None
    version: int = Field(description="pass as expected_version to update_job to avoid lost edits")
    ask_first: list[str] = Field(
        default_factory=list, description="tools that wait for a person's approval"
    )
    approval_timeout_seconds: float | None = None
    approval_on_timeout: str = "deny_and_continue"
    node_label: str | None = Field(
        default=None, description="runs only on nodes carrying this label; null: any node"
    )
    last_run_id: str | None
    last_state: str | None
    last_finished_at: str | None
    run_count: int
    cost_usd: float
    schedule_error: str | None = Field(
        default=None, description="Why the scheduler cannot plan this job (fix the schedule)"
    )


def job_out(job: JobView) -> JobOut:
    s = job.spec
    nxt: str | None = None
    if s.cron and job.enabled:
        try:
            fires = next_fires(s.cron, s.timezone, dt.datetime.now(dt.UTC), 1)
            nxt = fires[0].isoformat() if fires else None
        except CronError:
            nxt = None
    return JobOut(
        job_id=job.job_id,
        name=s.name,
        prompt=s.prompt,
        cron=s.cron,
        schedule=describe(s.cron) + f" ({s.timezone})" if s.cron else "manual only",
        timezone=s.timezone,
        enabled=job.enabled,
        next_run_at=nxt,
        model=s.model,
        tools=list(s.tools),
        mcp_servers=list(s.mcp_servers),
        timeout_seconds=s.timeout_seconds,
        max_turns=s.max_turns,
        budget_usd=s.budget_usd,
        retry=RetryOut.model_validate(msgspec.to_builtins(s.retry)),
        overlap=s.overlap,
        catch_up=s.catch_up,
        catch_up_window_seconds=s.catch_up_window_seconds,
        ask_first=list(s.ask_first),
        approval_timeout_seconds=s.approval_timeout_seconds,
        approval_on_timeout=s.approval_on_timeout,
        node_label=s.node_label,
        created_at=iso(job.created_at_us),
        updated_at=iso(job.updated_at_us),
        version=job.version,
        last_run_id=job.last_run_id,
        last_state=job.last_state,
        last_finished_at=iso(job.last_finished_at_us),
        run_count=job.run_count,
        cost_usd=round(job.cost_usd, 6),
        schedule_error=job.schedule_error,
    )


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class RunOut(BaseModel):
    """A run: its state, what it ran with, timings, usage, cost and result."""

    run_id: str
    job_id: str | None
    job_name: str | None
    trigger: str
    state: str = Field(
        description="requested | claimed | running | succeeded | failed | timed_out | "
        "cancelled | crashed | skipped"
    )
    finished: bool
    prompt: str
    model: str | None
    tools: list[str]
    mcp_servers: list[str]
    attempt: int
    retry_of: str | None
    webhook_id: str | None
    requested_at: str | None
    scheduled_for: str | None
    started_at: str | None
    finished_at: str | None
    reason: str | None = Field(description="why it failed, was skipped or cancelled")
    message: str | None
    cancel_requested: bool
    usage: UsageOut
    cost_usd: float
    num_turns: int
    duration_ms: int
    result_text: str = Field(description="the final answer (a window of at most 4000 chars)")
    result_truncated: bool = Field(
        description="true when result_text is only part of the answer; call get_run with "
        "result_offset=next_result_offset for the rest"
    )
    result_total_chars: int
    next_result_offset: int | None
    output_blocks: int
    tool_denials: int
    node_label: str | None = Field(
        default=None, description="only a node carrying this label may claim the run"
    )
    node: str = Field(default="", description="the node that claimed the run")
    awaiting_node: str | None = Field(
        default=None,
        description="set when the run waited because no live node carried its node_label",
    )
    spend: dict[str, Any] | None = Field(
        default=None,
        description="get_run only: the model relay's metered spend against the run's budget, "
        "the CLI's own estimate and their difference",
    )


TERMINAL = frozenset({"succeeded", "failed", "timed_out", "cancelled", "crashed", "skipped"})
RESULT_LIMIT = 4000


def run_out(
    run: RunView, *, result_limit: int = RESULT_LIMIT, text: str | None = None, offset: int = 0
) -> RunOut:
    """``text`` is the full result when known (the view keeps only a 4000-character preview)."""
    full = run.result_text if text is None else text
    window = full[offset : offset + result_limit]
    more = offset + len(window) < len(full)
    return RunOut(
        run_id=run.run_id,
        job_id=run.job_id,
        job_name=run.job_name,
        trigger=run.trigger,
        state=run.state,
        finished=run.state in TERMINAL,
        prompt=run.spec.prompt if len(run.spec.prompt) <= 2000 else run.spec.prompt[:2000] + "…",
        model=run.model or run.spec.model,
        tools=list(run.spec.tools),
        mcp_servers=list(run.spec.mcp_servers),
        attempt=run.attempt,
        retry_of=run.retry_of,
        webhook_id=run.webhook_id,
        requested_at=iso(run.requested_at_us),
        scheduled_for=iso_s(run.scheduled_for),
        started_at=iso(run.started_at_us),
        finished_at=iso(run.finished_at_us),
        reason=run.reason,
        message=run.message,
        cancel_requested=run.cancel_requested,
        usage=UsageOut.model_validate(msgspec.to_builtins(run.usage)),
        cost_usd=round(run.cost_usd, 6),
        num_turns=run.num_turns,
        duration_ms=run.duration_ms,
        result_text=window,
        result_truncated=more or offset > 0,
        result_total_chars=len(full),
        next_result_offset=offset + len(window) if more else None,
        output_blocks=run.outputs,
        tool_denials=run.denials,
        node_label=run.spec.node_label,
        node=run.node,
        awaiting_node=run.awaiting_node,
    )


class PageInfo(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool
    next_offset: int | None = Field(description="pass as offset to get the next page")
    next_cursor: str | None = Field(
        default=None, description="pass as cursor to get the next page (fast at any depth)"
    )


def page_info(
    total: int, limit: int, offset: int, count: int, next_cursor: str | None = None
) -> PageInfo:
    more = offset + count < total
    return PageInfo(
        total=total,
        limit=limit,
        offset=offset,
        has_more=more,
        next_offset=offset + count if more else None,
        next_cursor=next_cursor,
    )


class JobList(BaseModel):
    jobs: list[JobOut]
    page: PageInfo


class JobResult(BaseModel):
    job: JobOut
    warnings: list[str] = Field(description="e.g. tool names that were normalised")


class JobDeletedOut(BaseModel):
    job_id: str
    name: str
    deleted: bool
    cancelled_runs: list[str]


class RunList(BaseModel):
    runs: list[RunOut]
    page: PageInfo


class QuickRunOut(BaseModel):
    run: RunOut
    warnings: list[str]


class WaitOut(BaseModel):
    run: RunOut
    finished: bool
    timed_out: bool = Field(
        description="true when the wait ended before the run did; call wait_for_run again"
    )
    waited_seconds: float


class EventOut(BaseModel):
    version: int
    position: int
    type: str
    recorded_at: str | None
    actor: str
    data: dict[str, Any]


class EventList(BaseModel):
    run_id: str
    events: list[EventOut]
    has_more: bool
    next_after_version: int | None = Field(
        description="pass as after_version to read the next page"
    )


class CostLine(BaseModel):
    key: str | None = Field(description="the day, job id or model (null = ad-hoc / unknown)")
    label: str | None = Field(description="job name when grouped by job")
    runs: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    cost_usd: float


class CostReport(BaseModel):
    start: str
    end: str
    group_by: str
    rows: list[CostLine]
    total_runs: int
    total_cost_usd: float
    note: str
