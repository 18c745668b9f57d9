"""Open a real MCP client session to a :data:`Launch`, capturing a child's stderr.

Shared by discovery and invocation. The server's code only ever runs in its own process
(stdio) or remotely (HTTP); this process runs the MCP *client* alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import IO, Any, TextIO, cast

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from runner.servers.launch import Launch, StdioLaunch

STDERR_TAIL_CHARS = 2000
MASK = "********"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret value (longest first) with a fixed mask."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """:func:`redact` applied to every string inside a JSON-like value."""
    found = tuple(secrets)
    if isinstance(value, str):
        return redact(value, found)
    if isinstance(value, list | tuple):
        return [redact_value(v, found) for v in value]
    if isinstance(value, dict):
        return {redact(str(k), found): redact_value(v, found) for k, v in value.items()}
    return value


def stderr_tail(log: IO[str] | None, secrets: Iterable[str] = ()) -> str:
    """The last ~2,000 characters a child wrote to stderr, redacted."""
    if log is None:
        return ""
    try:
        log.flush()
        log.seek(0)
        text = log.read()
    except (OSError, ValueError):
        return ""
    tail = text[-STDERR_TAIL_CHARS:]
    if len(text) > STDERR_TAIL_CHARS and "\n" in tail:
        tail = tail[tail.index("\n") + 1 :]
    return redact(tail.strip(), secrets)


def missing_file_reason(what: str, launch: Launch, exc: FileNotFoundError) -> str:
    """Tell a missing working folder (server not materialised) from a missing command."""
    if isinstance(launch, StdioLaunch) and launch.cwd and not os.path.isdir(launch.cwd):
        return f"cannot start {what}: its folder {launch.cwd} does not exist (not materialised?)"
    return f"cannot start {what}: command not found ({exc.filename or launch})"


def describe_exception(exc: BaseException) -> str:
    """A one-line reason from an exception, unwrapping task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_exception(e) for e in exc.exceptions)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@asynccontextmanager
async def open_session(launch: Launch, errlog: IO[str] | None = None) -> AsyncIterator[Client]:
    """An initialised MCP client (initialize handshake, as Claude Code does) for ``launch``.

    For stdio the child gets only the MCP SDK's safe defaults (HOME, PATH, USER, ...) plus
    ``launch.env``; its stderr goes to ``errlog`` (a real file) when given.
    """
    async with AsyncExitStack() as stack:
        if isinstance(launch, StdioLaunch):
            params = StdioServerParameters(
                command=launch.command,
                args=list(launch.args),
                env=dict(launch.env),
                cwd=launch.cwd,
                encoding_error_handler="replace",
            )
            transport: Any = (
                stdio_client(params, errlog=cast(TextIO, errlog))
                if errlog
                else stdio_client(params)
            )
        elif launch.transport == "sse":
            transport = sse_client(launch.url, headers=dict(launch.headers))
        else:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=dict(launch.headers), timeout=httpx2.Timeout(30.0, read=300.0)
                )
            )
            transport = streamable_http_client(launch.url, http_client=http)
        client = await stack.enter_async_context(Client(transport, mode="legacy"))
        yield client


def new_errlog() -> IO[str]:
    """A temporary file for a child's stderr (deleted when closed)."""
    return tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
