"""The runner as an MCP server: ``build_mcp(runner, service)`` with every tool registered.

Tools live in ``tools_*`` modules by domain. Every failure reaches the model as a tool error
whose text says what to fix: ``CommandError`` messages are passed on with the field at fault,
anything unexpected becomes a one-line "internal error" (the traceback stays in the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import ValidationError

from actors.assistant_grants import CLIENT_PREFIX
from events.errors import StorageUnavailable
from runner.app import Runner
from runner.errors import CommandError
from web.mcp.arguments import describe_errors, tool_title, unknown_arguments
from web.mcp.assistant_guard import assistant_caller, refusal

log = logging.getLogger("web.mcp")
F = TypeVar("F", bound=Callable[..., Any])

INSTRUCTIONS = """\
Claude Runner runs Claude Code tasks ("jobs") on cron schedules, on webhooks, or on demand, and
records every run (output, tokens, cost) in an event log.
- A job = a prompt + optional 5-field cron schedule in an IANA time zone + the tools and MCP
  servers it may use. create_job / update_job validate everything and say what to fix.
- trigger_job or quick_run start a run now; wait_for_run follows it (with progress) until it
  finishes; get_run shows the result, get_run_events the full trace (paginated).
- Ids have prefixes: job_…, run_…, wh_… (webhooks). MCP servers are named, not numbered.
- Lists are paginated: when page.has_more is true, call again with offset=page.next_offset.
"""


def _hints(read: bool, destructive: bool, idempotent: bool, open_world: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


# Tools act on the runner's own log (a closed world) unless they start work that reaches out.
READ = _hints(True, False, True, False)
WRITE = _hints(False, False, False, False)
IDEMPOTENT = _hints(False, False, True, False)
DESTRUCTIVE = _hints(False, True, True, False)
DESTRUCTIVE_ONCE = _hints(False, True, False, False)
OPEN_WRITE = _hints(False, False, False, True)
"""Starts a run or a tool call that may reach the internet or other systems."""


def command_message(exc: CommandError) -> str:
    """``field: what to fix`` when the error names a field, else ``code: message``."""
    if not exc.field:
        return f"{exc.code}: {exc.message}"
    message = exc.message
    if message.startswith(exc.field + " ") and not message.startswith(exc.field + " ("):
        message = message[len(exc.field) + 1 :]
    return f"{exc.field}: {message}"


def actor() -> str:
    """Who is calling: the OAuth subject and client over HTTP, ``mcp:stdio`` otherwise; an
    assistant turn acts as its conversation's user (``<user> via assistant``)."""
    tok = get_access_token()
    if tok is None:
        return "mcp:stdio"
    if tok.client_id.startswith(CLIENT_PREFIX):
        return f"{tok.subject} via assistant"
    return f"mcp:{tok.subject or 'admin'}@{tok.client_id}"


class RunnerMCP(MCPServer[Any]):
    """``MCPServer`` that turns argument and command errors into ``field: what to fix`` tool
    errors, and gives every tool a title."""

    runner: Runner | None = None
    """Set by ``build_mcp``: where refusals of assistant calls are recorded."""

    def tool(  # type: ignore[override]
        self, name: str | None = None, title: str | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
        parent = super().tool

        def register(fn: F) -> F:
            label = title or tool_title(name or fn.__name__)
            return parent(name=name, title=label, **kwargs)(fn)

        return register

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        caller = assistant_caller()
        why = refusal(name, arguments) if caller is not None else None
        if caller is not None and why is not None:
            if self.runner is not None:
                await self.runner.assistant.refuse(caller[0], caller[1], name, why)
            raise ToolError(why)
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            unknown = unknown_arguments(arguments, tool.parameters)
            if unknown is not None:
                raise ToolError(f"invalid arguments: {unknown}")
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, CommandError):
                raise ToolError(command_message(cause)) from None
            if isinstance(cause, StorageUnavailable):
                raise ToolError(
                    f"unavailable: {cause}; nothing was changed, retry in {cause.retry_after} s"
                ) from None
            if isinstance(cause, ValueError) and type(cause).__module__.startswith("runner."):
                raise ToolError(f"invalid: {cause}") from None
            log.error("tool %s crashed", name, exc_info=cause)
            kind = type(cause).__name__ if cause else "error"
            raise ToolError(
                f"internal error in {name} ({kind}); nothing was changed unless the result of "
                "a later read shows it. The server log has the details."
            ) from None
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"invalid arguments: {describe_errors(exc.__cause__)}") from None
            raise


def build_mcp(runner: Runner, service: Any | None = None, **kwargs: Any) -> RunnerMCP:
    """An ``MCPServer`` exposing the runner; ``kwargs`` go to the constructor (auth, ...)."""
    from web.mcp import (
        tools_approvals,
        tools_bulk,
        tools_jobs,
        tools_misc,
        tools_runs,
        tools_servers,
        tools_settings,
        tools_webhooks,
    )

    mcp = RunnerMCP(
        name="claude-runner",
        title="Claude Runner",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        **kwargs,
    )
    mcp.runner = runner
    tools_jobs.register(mcp, runner)
    tools_runs.register(mcp, runner)
    tools_misc.register(mcp, runner, service)
    tools_webhooks.register(mcp, runner)
    tools_servers.register(mcp, runner)
    tools_settings.register(mcp, runner)
    tools_bulk.register(mcp, runner)
    tools_approvals.register(mcp, runner)
    return mcp
