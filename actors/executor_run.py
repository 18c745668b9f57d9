"""One run in flight: what the claimer hands over (``RunContext``) and the state the executor's
steps share while it runs (``RunState``: redaction, recorder, approvals, stderr, the client)."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from actors.approvals import Approvals
from actors.executor_client import AgentClient
from actors.executor_errors import Failure
from actors.executor_gate import Gate
from actors.executor_options import ExecutorSettings, RunDirs, auth_secrets
from actors.executor_output import Recorder, Redactor
from events.catalogue import Event
from events.runs import RunSpec, RunToolDenied

if TYPE_CHECKING:
    from actors.executor import Executor

__all__ = ["RunContext", "RunState", "denied_target", "timeout_of"]


class RunContext(msgspec.Struct, frozen=True, kw_only=True):
    """One claimed run, as the claimer hands it over."""

    run_id: str
    job_id: str | None
    spec: RunSpec
    attempt: int = 1


class RunState:
    """Per-run state shared by the steps of ``Executor.execute``."""

    def __init__(
        self, executor: Executor, ctx: RunContext, dirs: RunDirs, settings: ExecutorSettings
    ) -> None:
        self.ex = executor
        self.ctx = ctx
        self.dirs = dirs
        self.settings = settings
        """The run's own: with the relay's token instead of the credentials when relayed."""
        self.relayed = settings is not executor.settings
        self.relay_down: str | None = None
        self.stream = f"run-{ctx.run_id}"
        self.model = ctx.spec.model or executor.settings.default_model
        self.redact = Redactor([*auth_secrets(executor.settings), *auth_secrets(settings)])
        self.recorder = Recorder(
            ctx.run_id,
            redact=self.redact,
            max_block_chars=executor.settings.max_block_chars,
            max_run_chars=executor.settings.max_run_chars,
        )
        self.stderr: collections.deque[str] = collections.deque(
            maxlen=executor.settings.stderr_lines
        )
        self.client: AgentClient | None = None
        self.pid: int | None = None
        self.gate: Gate | None = None
        self.boxed = False
        """The CLI runs inside the run's bubblewrap sandbox."""
        self.disk_breach: str | None = None
        self.approvals = Approvals(
            executor.store,
            run_id=ctx.run_id,
            job_id=ctx.job_id,
            spec=ctx.spec,
            redact=self.redact.deep,
            settings=executor.approval_settings,
        )
        self.late: list[Event] = []
        """Denials only the CLI saw (e.g. by ``--restricted``), from the result message."""
        self.own_servers: dict[str, Any] = {}
        """An assistant turn's runner MCP server (``http`` with the turn's credential)."""
        self.resume: str | None = None
        """An assistant turn's session to resume (when its transcript is here)."""

    async def emit(self, events: Sequence[Event]) -> None:
        if events:
            await self.ex.store.append(self.stream, events, expected="any")

    def on_stderr(self, line: str) -> None:
        self.stderr.append(line.rstrip()[:2000])

    def stderr_tail(self, limit: int = 4000) -> str:
        return self.redact("\n".join(self.stderr))[-limit:]

    async def on_denied(self, tool: str, reason: str, target: str, tool_use_id: str | None) -> None:
        ev = RunToolDenied(
            run_id=self.ctx.run_id,
            tool=tool,
            reason=self.redact(reason),
            target=self.redact(target),
            tool_use_id=tool_use_id,
        )
        await self.emit([ev])

    def failed(self, failure: Failure) -> Event:
        msg = self.redact(failure.message)
        tail = self.stderr_tail()
        if tail and failure.reason in ("cli_crashed", "internal", "cli_not_found"):
            msg = f"{msg}\n--- Claude Code stderr ---\n{tail}"
        failure.message = msg
        return failure.event(self.ctx.run_id, self.recorder.run_result())


def timeout_of(spec: RunSpec, settings: ExecutorSettings) -> float:
    return float(spec.timeout_seconds or settings.default_timeout_seconds)


def denied_target(tool_input: Any) -> str:
    if isinstance(tool_input, dict):
        for k in ("file_path", "path", "notebook_path", "command", "pattern"):
            if isinstance(tool_input.get(k), str):
                return str(tool_input[k])[:200]
    return ""
