"""Run events: the state machine of one execution, written on the stream ``run-<id>``.

``RunRequested -> (RunSkipped | RunClaimed) -> RunStarted -> RunOutput* / RunUsage* ->
RunSucceeded | RunFailed | RunTimedOut | RunCancelled | RunCrashed``
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from events.approvals import OnTimeout
from events.assistant import AssistantTurn

Trigger = Literal["schedule", "manual", "webhook", "retry", "quick", "mcp", "catch_up", "assistant"]
OutputKind = Literal["text", "thinking", "tool_use", "tool_result", "system", "error"]
FailureReason = Literal[
    "api_error",
    "authentication",
    "rate_limited",
    "overloaded",
    "cli_not_found",
    "cli_crashed",
    "budget_exceeded",
    "max_turns",
    "invalid_request",
    "internal",
    "sandbox_unavailable",
    "sandbox_failed",
    "disk_quota",
    "approval_timed_out",
]


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The resolved settings a run executes with (a snapshot: later job edits don't change it)."""

    prompt: str
    model: str | None = None
    tools: tuple[str, ...] = ()
    mcp_servers: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    ask_first: tuple[str, ...] = ()
    """Tools that wait for a person's approval: names (``Bash``, ``mcp__email__send``) or
    server prefixes (``mcp__email__*``)."""
    ask_first_writes: bool | None = None
    """Also ask before every write or execute tool; ``None``: only for untrusted input."""
    approval_timeout_seconds: float | None = None
    approval_on_timeout: OnTimeout = "deny_and_continue"
    untrusted_input: bool = False
    """The prompt holds outside data (a webhook payload) marked as untrusted."""
    assistant: AssistantTurn | None = None
    """A turn of a dashboard conversation: the runner's own MCP tools, a kept CLI session."""
    node_label: str | None = None
    """Only a node carrying this label may claim the run (``None``: any node)."""


class RunRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    job_id: str | None
    trigger: Trigger
    spec: RunSpec
    scheduled_for: float | None = None
    attempt: int = 1
    retry_of: str | None = None
    webhook_id: str | None = None
    delivery_id: str | None = None
    not_before: float | None = None


class RunSkipped(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    job_id: str | None = None
    reason: Literal[
        "missed", "overlap", "budget", "paused", "job_deleted", "cancelled", "queue_full"
    ]
    detail: str = ""
    scheduled_for: float | None = None


class RunClaimed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    claimer: str
    node: str = ""
    """The claiming node's name (``RUNNER_NODE_NAME``); empty in claims before nodes had names."""


class ConcurrencySlotTaken(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """A claim took one of the global concurrency slots (stream ``claims``).

    Appended atomically with the ``RunClaimed`` it accompanies, with the ``claims`` version the
    claimer decided on: a claimer whose view of the other claims is stale gets a
    ``ConcurrencyError`` instead of exceeding the cap, across processes and nodes.
    """

    run_id: str
    claimer: str
    busy: int
    """How many runs the claimer counted busy (this one excluded) when it decided."""


class RunStarted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    workspace: str
    model: str | None = None
    auth: str = ""


class RunOutput(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    seq: int
    kind: OutputKind
    text: str = ""
    tool_name: str | None = None
    tool_use_id: str | None = None
    data: dict[str, Any] | None = None
    is_error: bool = False
    truncated: bool = False
    message_id: str | None = None


class RunOutputTruncated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    seq: int
    limit: str
    dropped_chars: int = 0


class RunUsage(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    message_id: str
    model: str | None
    usage: Usage


class RunToolDenied(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    tool: str
    reason: str
    target: str = ""
    tool_use_id: str | None = None
    """The call refused (absent in events written before it was recorded)."""


class RunCancelRequested(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    by: str = "user"
    reason: str = ""


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """Totals of a finished run as the CLI reported them (the cost is the CLI's estimate)."""

    usage: Usage = Usage()
    cost_usd: float = 0.0
    num_turns: int = 0
    duration_ms: int = 0
    model: str | None = None
    session_id: str | None = None


class RunSucceeded(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    result_text: str = ""
    result: RunResult = RunResult()


class RunFailed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    reason: FailureReason
    message: str
    retryable: bool = False
    result: RunResult | None = None


class RunTimedOut(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    timeout_seconds: float
    result: RunResult | None = None


class RunCancelled(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    reason: str = "cancelled by user"
    result: RunResult | None = None


class RunCrashed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    run_id: str
    detail: str


RunEvent = (
    RunRequested
    | RunSkipped
    | RunClaimed
    | RunStarted
    | RunOutput
    | RunOutputTruncated
    | RunUsage
    | RunToolDenied
    | RunCancelRequested
    | RunSucceeded
    | RunFailed
    | RunTimedOut
    | RunCancelled
    | RunCrashed
)
TERMINAL_RUN_EVENTS: tuple[type, ...] = (
    RunSucceeded,
    RunFailed,
    RunTimedOut,
    RunCancelled,
    RunCrashed,
    RunSkipped,
)
