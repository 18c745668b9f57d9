"""ASGI apps mounted beside the dashboard on the same port: the MCP server at ``/mcp``.

``mcp_mounts`` returns (path predicate, ASGI app) pairs; the dispatcher gives a request to the
first app whose predicate matches and runs every app's lifespan (the MCP session manager's).
"""

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
    """(path predicate, ASGI app) pairs; the first matching predicate gets the request.

    Built fresh on every call: the MCP session manager can run only once per instance.
    """
    from web.mcp.http import build_http_app, is_mcp_path

    _mcp, app = build_http_app(runner, service)
    return [(is_mcp_path, app)]
