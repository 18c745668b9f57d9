"""Ask-first tools: the run pauses until a person approves or denies the exact call.

The gate (``actors.executor_gate``) asks ``Approvals.asks`` after its own rules allowed a call;
when a policy matches, ``Approvals.request`` appends ``RunAwaitingApproval`` on the run's stream
and waits, following the log, for the one resolution of that approval: ``ApprovalAnswered`` from
the dashboard, the API or MCP (any process), or ``ApprovalTimedOut`` which it appends itself at
the deadline. A cancelled wait (the run was killed) leaves ``ApprovalWithdrawn``.

While any call waits, the run's wall-clock deadline is held back by the time spent waiting, up
to ``ApprovalSettings.max_excluded_seconds`` per run; waiting beyond that eats the run's time.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from events.approvals import (
    ApprovalAnswered,
    ApprovalTimedOut,
    ApprovalWithdrawn,
    RunAwaitingApproval,
)
from events.catalogue import Event
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import new_id, run_stream
from events.runs import RunSpec
from events.store import EventStore

if TYPE_CHECKING:  # the SDK is imported where a run needs it: not by every CLI command
    from claude_agent_sdk.types import PermissionResult

__all__ = [
    "WRITE_TOOLS",
    "ApprovalSettings",
    "Approvals",
    "policy_reason",
    "resolve",
]

WRITE_TOOLS = frozenset({"Bash", "Write", "Edit", "MultiEdit", "NotebookEdit"})
"""Built-in tools that write or execute; every MCP tool counts too (none is declared read-only)."""
MAX_INPUT_CHARS = 20_000


class ApprovalSettings(msgspec.Struct, frozen=True, kw_only=True):
    default_timeout_seconds: float = 3600.0
    """When the job sets no ``approval_timeout_seconds``."""
    max_excluded_seconds: float = 86_400.0
    """At most this much waiting per run is left out of its wall-clock timeout."""


def policy_reason(spec: RunSpec, tool: str) -> str | None:
    """Why ``tool`` must be approved in a run of ``spec`` (the matching rule), else None."""
    for entry in spec.ask_first:
        if entry == tool or (entry.endswith("*") and tool.startswith(entry[:-1])):
            return f"ask first: {entry}"
    writes = spec.untrusted_input if spec.ask_first_writes is None else spec.ask_first_writes
    if writes and (tool in WRITE_TOOLS or tool.startswith("mcp__")):
        why = "the prompt holds untrusted input" if spec.untrusted_input else "ask first"
        return f"{why}: write and execute tools need approval"
    return None


async def resolve(
    store: EventStore,
    run_id: str,
    approval_id: str,
    event: Event,
    *,
    actor: str,
    from_version: int = 0,
) -> Event:
    """Append ``event`` as the resolution of the approval unless it already has one; returns
    the resolution that holds (``event`` or the earlier one). ``LookupError`` if unknown.
    ``from_version``: the request's version in the run stream (skips the output before it)."""
    stream = run_stream(run_id)
    while True:
        recs = await store.read_stream(stream, from_version=from_version)
        asked = False
        for rec in recs:
            ev = rec.event
            if getattr(ev, "approval_id", None) != approval_id:
                continue
            if isinstance(ev, RunAwaitingApproval):
                asked = True
            elif isinstance(ev, ApprovalAnswered | ApprovalTimedOut | ApprovalWithdrawn):
                return ev
        if not asked:
            raise LookupError(approval_id)
        version = recs[-1].version
        try:
            await store.append(stream, [event], expected=version, meta=Meta(actor=actor))
        except ConcurrencyError:
            continue  # the run wrote meanwhile (or someone answered): look again
        return event


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return {"_unprintable": True}
    if len(text) <= MAX_INPUT_CHARS:
        return value
    return {"_truncated": text[:MAX_INPUT_CHARS]}


class Approvals:
    """The ask-first policy and the waiting of one run (created by the executor per run)."""

    def __init__(
        self,
        store: EventStore,
        *,
        run_id: str,
        job_id: str | None,
        spec: RunSpec,
        redact: Callable[[Any], Any],
        settings: ApprovalSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.job_id = job_id
        self.spec = spec
        self.redact = redact
        self.settings = settings
        self.clock = clock
        self.scope: anyio.CancelScope | None = None
        """The run's wall-clock scope; its deadline is held back while a call waits."""
        self.failure: str | None = None
        """Set when a timed-out approval ends the run (``approval_on_timeout = fail_run``)."""
        self._waiting = 0
        self.closed = False
        self._paused_at = 0.0
        self._remaining = 0.0
        self.excluded = 0.0
        """Seconds of waiting left out of the run's timeout so far."""

    def asks(self, tool: str) -> str | None:
        return policy_reason(self.spec, tool)

    async def request(
        self, tool: str, tool_input: dict[str, Any], tool_use_id: str | None, why: str
    ) -> PermissionResult:
        """Record the call, wait for its one resolution, and turn that into allow or deny."""
        from claude_agent_sdk import PermissionResultDeny

        if self.failure is not None:
            return PermissionResultDeny(message=self.failure, interrupt=True)
        timeout = self.spec.approval_timeout_seconds or self.settings.default_timeout_seconds
        approval_id = new_id("apr")
        asked = RunAwaitingApproval(
            run_id=self.run_id,
            approval_id=approval_id,
            tool=tool,
            input=_bounded(self.redact(tool_input)),
            deadline=self.clock() + timeout,
            on_timeout=self.spec.approval_on_timeout,
            tool_use_id=tool_use_id,
            job_id=self.job_id,
            reason=why,
        )
        with anyio.CancelScope(shield=True):  # recorded means resolved, even when cancelled
            res = await self.store.append(
                run_stream(self.run_id), [asked], expected="any", meta=Meta(actor="executor")
            )
        v = res.last_version
        started = self.clock()
        self._pause()
        outcome: Event | None = None
        try:
            if self.closed:  # the run ended while this was being recorded
                gone = ApprovalWithdrawn(
                    run_id=self.run_id, approval_id=approval_id, reason="the run ended"
                )
                outcome = await resolve(
                    self.store, self.run_id, approval_id, gone, actor="executor", from_version=v
                )
            if outcome is None:
                with anyio.move_on_after(max(0.0, timeout)):
                    outcome = await self._wait(approval_id, res.last_position)
            if outcome is None:
                timed_out = ApprovalTimedOut(
                    run_id=self.run_id,
                    approval_id=approval_id,
                    waited_seconds=round(self.clock() - started, 3),
                    on_timeout=self.spec.approval_on_timeout,
                )
                outcome = await resolve(
                    self.store,
                    self.run_id,
                    approval_id,
                    timed_out,
                    actor="executor",
                    from_version=v,
                )
        finally:
            self._resume()
            if outcome is None:  # cancelled while waiting: the run is ending
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    gone = ApprovalWithdrawn(
                        run_id=self.run_id, approval_id=approval_id, reason="the run ended"
                    )
                    await resolve(
                        self.store, self.run_id, approval_id, gone, actor="executor", from_version=v
                    )
        return self._verdict(outcome, tool, tool_input)

    async def close(self, reason: str = "the run ended") -> None:
        """Withdraw every approval of the run still waiting. The SDK cancels its permission
        callbacks without waiting for them, so the executor calls this before its terminal
        event; the log is the truth (a request whose append is still in flight sees
        ``closed`` and withdraws itself)."""
        self.closed = True
        asked: dict[str, None] = {}
        for rec in await self.store.read_stream(run_stream(self.run_id)):
            ev = rec.event
            if isinstance(ev, RunAwaitingApproval):
                asked[ev.approval_id] = None
            elif isinstance(ev, ApprovalAnswered | ApprovalTimedOut | ApprovalWithdrawn):
                asked.pop(ev.approval_id, None)
        for approval_id in asked:
            gone = ApprovalWithdrawn(run_id=self.run_id, approval_id=approval_id, reason=reason)
            await resolve(self.store, self.run_id, approval_id, gone, actor="executor")

    def _verdict(self, outcome: Event, tool: str, tool_input: dict[str, Any]) -> PermissionResult:
        from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

        if isinstance(outcome, ApprovalAnswered):
            if outcome.decision == "approved":
                return PermissionResultAllow(updated_input=tool_input)
            note = f": {outcome.message}" if outcome.message else ""
            return PermissionResultDeny(message=f"A person denied this {tool} call{note}")
        if isinstance(outcome, ApprovalTimedOut) and outcome.on_timeout == "fail_run":
            self.failure = (
                f"nobody approved the {tool} call in time, and the job ends the run when an "
                "approval times out"
            )
            return PermissionResultDeny(message=self.failure, interrupt=True)
        if isinstance(outcome, ApprovalTimedOut):
            return PermissionResultDeny(
                message=f"Nobody approved this {tool} call in time; it was not run. Continue "
                "without it."
            )
        return PermissionResultDeny(message=f"The {tool} call was withdrawn", interrupt=True)

    async def _wait(self, approval_id: str, after: int) -> Event | None:
        async with self.store.subscribe(from_position=after) as sub:
            async for rec in sub:
                ev = rec.event
                if (
                    isinstance(ev, ApprovalAnswered | ApprovalTimedOut | ApprovalWithdrawn)
                    and ev.approval_id == approval_id
                ):
                    return ev
        return None

    # --- the run's wall clock ---------------------------------------------------------------

    def _pause(self) -> None:
        self._waiting += 1
        if self._waiting > 1 or self.scope is None:
            return
        now = anyio.current_time()
        self._paused_at = now
        self._remaining = self.scope.deadline - now
        budget = max(0.0, self.settings.max_excluded_seconds - self.excluded)
        self.scope.deadline = now + self._remaining + budget if math.isfinite(budget) else math.inf

    def _resume(self) -> None:
        self._waiting -= 1
        if self._waiting > 0 or self.scope is None:
            return
        now = anyio.current_time()
        budget = max(0.0, self.settings.max_excluded_seconds - self.excluded)
        excluded = min(now - self._paused_at, budget)
        self.excluded += excluded
        self.scope.deadline = self._paused_at + self._remaining + excluded
