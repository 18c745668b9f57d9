"""Tool discovery: start the server, list its tools with a real MCP client, under a timeout."""

from __future__ import annotations

import time
from typing import Any

import anyio
import msgspec
from mcp import MCPError

from events.servers import ToolInfo
from runner.servers.launch import Launch, StdioLaunch
from runner.servers.session import (
    describe_exception,
    missing_file_reason,
    new_errlog,
    open_session,
    redact,
    stderr_tail,
)

DISCOVERY_TIMEOUT = 20.0
MAX_TOOLS = 500


class Discovery(msgspec.Struct, frozen=True, kw_only=True):
    """What a start attempt found: the tools, or a readable ``error`` (then ``tools`` is empty).

    Maps to ``ServerToolsDiscovered(name, tools)`` or ``ServerStartFailed(name, error)``.
    """

    tools: tuple[ToolInfo, ...] = ()
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def _tool_info(tool: Any) -> ToolInfo:
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
    return ToolInfo(
        name=str(tool.name),
        description=str(tool.description or "")[:4000],
        input_schema=dict(schema),
    )


async def _list_all(launch: Launch, errlog: Any) -> tuple[ToolInfo, ...]:
    tools: list[ToolInfo] = []
    async with open_session(launch, errlog) as client:
        cursor: str | None = None
        while len(tools) < MAX_TOOLS:
            page = await client.list_tools(cursor=cursor)
            tools.extend(_tool_info(t) for t in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
    return tuple(tools[:MAX_TOOLS])


async def discover_tools(launch: Launch, *, time_limit: float = DISCOVERY_TIMEOUT) -> Discovery:
    """Start the server described by ``launch`` and list its tools.

    Never raises for a misbehaving server: a crash at start (with the tail of its stderr,
    secrets redacted), a command that cannot be spawned, a protocol error or the ``time_limit``
    all come back as ``Discovery(error=...)``.
    """
    started = time.monotonic()
    what = "server" if isinstance(launch, StdioLaunch) else f"server at {launch.url}"
    with new_errlog() as errlog:
        try:
            with anyio.fail_after(time_limit):
                tools = await _list_all(launch, errlog)
        except TimeoutError:
            reason = f"{what} did not list its tools within {time_limit:g} s"
        except FileNotFoundError as exc:
            reason = missing_file_reason(what, launch, exc)
        except OSError as exc:
            reason = f"cannot start {what}: {describe_exception(exc)}"
        except Exception as exc:
            reason = failure_reason(what, exc)
        else:
            return Discovery(tools=tools, duration_ms=_ms(started))
        tail = stderr_tail(errlog, launch.secrets)
    error = redact(reason, launch.secrets)
    if tail:
        error = f"{error}\n--- server stderr (last lines) ---\n{tail}"
    return Discovery(error=error, duration_ms=_ms(started))


def failure_reason(what: str, exc: BaseException) -> str:
    """Readable reason for a failed session; a closed connection means the child exited."""
    text = describe_exception(exc)
    if "Connection closed" in text:
        return f"{what} exited before answering (connection closed)"
    if isinstance(exc, MCPError):
        return f"{what} answered with an error: {exc}"
    return f"{what} failed: {text}"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
