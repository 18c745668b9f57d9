"""Job events: a job is a named prompt with a schedule and the limits it runs under."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.approvals import OnTimeout

OverlapPolicy = Literal["skip", "buffer_one", "allow", "cancel_previous"]
CatchUpPolicy = Literal["skip", "latest", "all"]


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a failed run is retried: only transient failures, with exponential backoff."""

    max_attempts: int = 1
    backoff_seconds: float = 30.0
    backoff_factor: float = 2.0
    max_backoff_seconds: float = 3600.0


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a user configures about a job (validated by ``runner.commands``)."""

    name: str
    prompt: str
    cron: str | None = None
    timezone: str = "UTC"
    enabled: bool = True
    model: str | None = None
    tools: tuple[str, ...] = ()
    mcp_servers: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    retry: RetryPolicy = RetryPolicy()
    overlap: OverlapPolicy = "skip"
    catch_up: CatchUpPolicy = "skip"
    catch_up_window_seconds: float = 3600.0
    ask_first: tuple[str, ...] = ()
    """Tools a person approves call by call (see ``RunSpec.ask_first``)."""
    ask_first_writes: bool | None = None
    approval_timeout_seconds: float | None = None
    approval_on_timeout: OnTimeout = "deny_and_continue"
    node_label: str | None = None
    """Only nodes carrying this label run the job (``None``: any node)."""


class JobCreated(msgspec.Struct, frozen=True, tag=True):
    job_id: str
    spec: JobSpec


class JobUpdated(msgspec.Struct, frozen=True, tag=True):
    job_id: str
    spec: JobSpec
    changed: tuple[str, ...] = ()


class JobPaused(msgspec.Struct, frozen=True, tag=True):
    job_id: str
    reason: str | None = None


class JobResumed(msgspec.Struct, frozen=True, tag=True):
    job_id: str


class JobDeleted(msgspec.Struct, frozen=True, tag=True):
    job_id: str
    name: str


class JobScheduleBroken(msgspec.Struct, frozen=True, tag=True):
    """The scheduler cannot plan this job (e.g. a cron that never fires); other jobs go on.

    Cleared by the next ``JobUpdated``. Old events are never rewritten: a schedule accepted
    before validation tightened is caught here, at planning time.
    """

    job_id: str
    error: str


JobEvent = JobCreated | JobUpdated | JobPaused | JobResumed | JobDeleted | JobScheduleBroken
