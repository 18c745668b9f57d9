"""Run tools: list, get, kill, quick run, wait (with progress), the audit trail, costs."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

import anyio
import msgspec
from mcp.server.mcpserver import Context
from pydantic import Field

from events.envelope import Recorded
from events.ids import run_stream
from events.runs import TERMINAL_RUN_EVENTS, RunSucceeded
from projections.runs import RESULT_PREVIEW
from runner.app import Runner
from runner.errors import InvalidInput
from runner.queries import RunFilter
from web.mcp.models import (
    CostLine,
    CostReport,
    EventList,
    EventOut,
    QuickRunOut,
    RunList,
    RunOut,
    WaitOut,
    iso,
    page_info,
    run_out,
)
from web.mcp.params import (
    BudgetUsd,
    Limit,
    MaxTurns,
    ModelName,
    NodeLabel,
    Offset,
    ServerNames,
    TimeoutSeconds,
    ToolNames,
)
from web.mcp.refs import job_ref, webhook_ref
from web.mcp.server import DESTRUCTIVE_ONCE, OPEN_WRITE, READ, RunnerMCP, actor

RunId = Annotated[str, Field(description="a run id such as 'run_1a2b3c4d5e6f' (see list_runs)")]
RunState = Literal[
    "requested",
    "claimed",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "crashed",
    "skipped",
]
FIELD_LIMIT = 2000
MAX_WAIT = 600.0


def _clip(value: Any, clipped: list[str], limit: int, path: str = "") -> Any:
    """Cut long strings in event data (say so in ``clipped``) so one page stays readable."""
    if isinstance(value, str) and len(value) > limit:
        clipped.append(path or "value")
        return value[:limit] + f"… [{len(value) - limit} more characters]"
    if isinstance(value, dict):
        return {k: _clip(v, clipped, limit, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v, clipped, limit, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _event_out(rec: Recorded, limit: int = FIELD_LIMIT) -> EventOut:
    clipped: list[str] = []
    data = _clip(msgspec.to_builtins(rec.event), clipped, limit)
    if clipped:
        data["_clipped_fields"] = clipped
    return EventOut(
        version=rec.version,
        position=rec.position,
        type=rec.type,
        recorded_at=iso(rec.recorded_at_us),
        actor=rec.meta.actor,
        data=data,
    )


def progress_message(rec: Recorded) -> str:
    """One line describing a run event, for progress notifications."""
    ev: Any = rec.event
    kind = rec.type
    if kind == "RunOutput":
        if ev.kind == "tool_use":
            return f"tool call: {ev.tool_name}"
        text = " ".join(str(ev.text).split())
        return f"{ev.kind}: {text[:160]}" if text else str(ev.kind)
    if kind == "RunStarted":
        return f"started (model {ev.model or 'default'})"
    if kind == "RunClaimed":
        return "claimed by an executor"
    if kind == "RunUsage":
        return f"usage: {ev.usage.input_tokens} in / {ev.usage.output_tokens} out tokens"
    if kind == "RunFailed":
        return f"failed: {ev.reason}: {ev.message[:200]}"
    return kind.removeprefix("Run").lower() or kind


def _day(value: str | None, default: dt.date, field: str) -> dt.date:
    if value is None or not value.strip():
        return default
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidInput(f"{field} must be a date like '2026-11-01', got {value!r}", field=field)


def register(mcp: RunnerMCP, runner: Runner) -> None:
    q = runner.queries

    @mcp.tool(annotations=READ)
    async def list_runs(
        job_id: Annotated[
            str | None, Field(description="only this job's runs: its id or exact name")
        ] = None,
        state: Annotated[RunState | None, Field(description="only runs in this state")] = None,
        trigger: Annotated[
            Literal[
                "schedule", "manual", "webhook", "retry", "quick", "mcp", "catch_up", "assistant"
            ]
            | None,
            Field(description="only runs started this way"),
        ] = None,
        webhook_id: Annotated[
            str | None, Field(description="only this webhook's runs: its id or exact name")
        ] = None,
        limit: Limit = 20,
        offset: Offset = 0,
        cursor: Annotated[
            str | None,
            Field(
                description="page.next_cursor of the previous call: the next page, as fast at "
                "any depth (offset is ignored with a cursor)",
                max_length=240,
            ),
        ] = None,
    ) -> RunList:
        """List runs, newest first (results cut to 500 characters; get_run has more). Filter
        by job or webhook, given by id or exact name."""
        if job_id:
            job_id = await job_ref(runner, job_id)
        if webhook_id:
            webhook_id = await webhook_ref(runner, webhook_id)
        page = await q.runs(
            RunFilter(job_id=job_id, state=state, trigger=trigger, webhook_id=webhook_id),
            limit=limit,
            offset=offset,
            cursor=cursor,
        )
        runs = [run_out(r, result_limit=500) for r in page.items]
        info = page_info(page.total, page.limit, offset, len(runs), page.next_cursor)
        if cursor:
            info.has_more, info.next_offset = page.next_cursor is not None, None
        return RunList(runs=runs, page=info)

    @mcp.tool(annotations=READ)
    async def get_run(
        run_id: RunId,
        result_offset: Annotated[
            int, Field(ge=0, description="start of the result window (for long answers)")
        ] = 0,
        result_chars: Annotated[
            int, Field(ge=100, le=50_000, description="size of the result window (characters)")
        ] = 4000,
    ) -> RunOut:
        """Get a run: state, timings, tokens, cost and its result text. Long answers come in
        windows: call again with result_offset=next_result_offset."""
        run = await q.run(run_id)
        full: str | None = None
        if run.state == "succeeded" and len(run.result_text) >= RESULT_PREVIEW:
            for rec in reversed(await runner.store.read_stream(run_stream(run_id))):
                if isinstance(rec.event, RunSucceeded):
                    full = rec.event.result_text
                    break
        out = run_out(run, result_limit=result_chars, text=full, offset=result_offset)
        out.spend = await q.run_spend(run_id)
        return out

    @mcp.tool(annotations=DESTRUCTIVE_ONCE)
    async def kill_run(
        run_id: RunId,
        reason: Annotated[str, Field(description="why, shown in the history")] = "",
    ) -> RunOut:
        """Cancel a run: a queued run never starts, a running one is stopped within seconds.
        Refused (with its state) if the run already finished."""
        return run_out(await runner.runs.cancel(run_id, actor=actor(), reason=reason))

    @mcp.tool(annotations=DESTRUCTIVE_ONCE)
    async def erase_run_output(
        run_id: RunId,
        reason: Annotated[str, Field(description="why (recorded in the log)", max_length=500)],
    ) -> dict[str, Any]:
        """Erase a finished run's output, final result and triggering webhook body for good
        (e.g. a secret it printed). Recorded as an event naming you and the reason; the log's
        hash chain still verifies. Refused while the run is queued or running."""
        return await runner.erasure.erase_run(run_id, by=actor(), reason=reason)

    @mcp.tool(annotations=OPEN_WRITE)
    async def quick_run(
        prompt: Annotated[str, Field(description="what Claude should do, once, now")],
        tools: ToolNames = None,
        mcp_servers: ServerNames = None,
        model: ModelName = None,
        timeout_seconds: TimeoutSeconds = None,
        max_turns: MaxTurns = None,
        budget_usd: BudgetUsd = None,
        node_label: NodeLabel = None,
    ) -> QuickRunOut:
        """Run an ad-hoc prompt now without creating a job; follow it with wait_for_run."""
        run, warnings = await runner.runs.quick(
            prompt,
            tools=tools or (),
            mcp_servers=mcp_servers or (),
            model=model,
            timeout_seconds=timeout_seconds,
            max_turns=max_turns,
            budget_usd=budget_usd,
            actor=actor(),
            node_label=node_label,
        )
        return QuickRunOut(run=run_out(run), warnings=warnings)

    @mcp.tool(annotations=READ)
    async def wait_for_run(
        run_id: RunId,
        ctx: Context,
        timeout_seconds: Annotated[
            float, Field(gt=0, le=MAX_WAIT, description="give up waiting after this (max 600)")
        ] = 120.0,
    ) -> WaitOut:
        """Wait until a run finishes, sending a progress notification for each step (claimed,
        started, tool calls, text). Returns the run; if it is still going when the wait ends,
        timed_out is true and you may call wait_for_run again."""
        started = time.monotonic()
        head = await runner.store.head()
        run = await q.run(run_id)
        if run.state not in ("requested", "claimed", "running"):
            return WaitOut(run=run_out(run), finished=True, timed_out=False, waited_seconds=0.0)
        stream = run_stream(run_id)
        steps = 0
        done = False
        await ctx.report_progress(0, None, f"waiting for run {run_id} ({run.state})")
        with anyio.move_on_after(timeout_seconds):
            async with runner.store.subscribe(from_position=head) as sub:
                async for rec in sub:
                    if rec.stream != stream:
                        continue
                    steps += 1
                    await ctx.report_progress(steps, None, progress_message(rec))
                    if isinstance(rec.event, TERMINAL_RUN_EVENTS):
                        done = True
                        break
        run = await q.run(run_id)
        finished = done or run.state not in ("requested", "claimed", "running")
        return WaitOut(
            run=run_out(run),
            finished=finished,
            timed_out=not finished,
            waited_seconds=round(time.monotonic() - started, 3),
        )

    @mcp.tool(annotations=READ)
    async def get_run_events(
        run_id: RunId,
        after_version: Annotated[
            int, Field(ge=-1, description="read events after this version; -1 = from the start")
        ] = -1,
        limit: Limit = 50,
        max_field_chars: Annotated[
            int,
            Field(
                ge=100, le=100_000, description="clip longer strings (listed in _clipped_fields)"
            ),
        ] = FIELD_LIMIT,
    ) -> EventList:
        """The run's audit trail from the event log: requested, claimed, started, every output
        block and tool call, usage, and the outcome, with who caused each. Strings longer than
        max_field_chars are clipped and listed in _clipped_fields; to read one in full, call
        again with after_version=<its version - 1>, limit=1 and a larger max_field_chars."""
        await q.run(run_id)
        recs = await runner.store.read_stream(run_stream(run_id), from_version=after_version + 1)
        page = recs[:limit]
        more = len(recs) > limit
        return EventList(
            run_id=run_id,
            events=[_event_out(r, max_field_chars) for r in page],
            has_more=more,
            next_after_version=page[-1].version if more and page else None,
        )

    @mcp.tool(annotations=READ)
    async def get_costs(
        start: Annotated[
            str | None, Field(description="first UTC day, 'YYYY-MM-DD' (default: 6 days ago)")
        ] = None,
        end: Annotated[str | None, Field(description="last UTC day (default: today)")] = None,
        group_by: Annotated[
            Literal["day", "job", "model"], Field(description="one row per day, job or model")
        ] = "day",
    ) -> CostReport:
        """Runs, tokens and estimated cost (USD) over a date range, by day, job or model."""
        today = dt.datetime.now(dt.UTC).date()
        last = _day(end, today, "end")
        first = _day(start, last - dt.timedelta(days=6), "start")
        if (last - first).days > 366:
            raise InvalidInput("the range may span at most 366 days", field="start")
        rows = await q.costs(start=first, end=last, group_by=group_by)
        names: dict[str, str] = {}
        if group_by == "job":
            names = {j.job_id: j.spec.name for j in await q.all_jobs()}
        lines = [
            CostLine(
                label=names.get(str(r["key"])) if group_by == "job" else None,
                **{**r, "key": None if r["key"] is None else str(r["key"])},
            )
            for r in rows
        ]
        return CostReport(
            start=first.isoformat(),
            end=last.isoformat(),
            group_by=group_by,
            rows=lines,
            total_runs=sum(line.runs for line in lines),
            total_cost_usd=round(sum(line.cost_usd for line in lines), 6),
            note="costs are the Claude Code CLI's estimates; key null = ad-hoc runs",
        )
