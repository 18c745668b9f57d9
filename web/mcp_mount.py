"""ASGI apps mounted beside the dashboard on the same port (the MCP server fills this in)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PathMatcher = Callable[[str], bool]


def mcp_mounts(runner: Any, service: Any) -> list[tuple[PathMatcher, ASGIApp]]:
    """(path predicate, ASGI app) pairs; the first matching predicate gets the request."""
    return []
