"""Turning a job into what one of its runs executes with."""

from __future__ import annotations

from events.runs import RunSpec
from projections.jobs import JobView
from projections.settings import Settings


def resolve_spec(job: JobView, settings: Settings) -> RunSpec:
    """A job's settings with the service defaults filled in (snapshotted into the run)."""
    s = job.spec
    return RunSpec(
        prompt=s.prompt,
        model=s.model or settings.default_model,
        tools=s.tools,
        mcp_servers=s.mcp_servers,
        timeout_seconds=s.timeout_seconds or settings.default_timeout_seconds,
        max_turns=s.max_turns,
        budget_usd=s.budget_usd if s.budget_usd is not None else settings.default_budget_usd,
        ask_first=s.ask_first,
        ask_first_writes=s.ask_first_writes,
        approval_timeout_seconds=s.approval_timeout_seconds,
        approval_on_timeout=s.approval_on_timeout,
        node_label=s.node_label,
    )
