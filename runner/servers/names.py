"""Server names: one shape everywhere (event stream ids, folders, ``mcp__<server>__<tool>``)."""

from __future__ import annotations

import re

from runner.servers.errors import InvalidServerName

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")
BUILTIN_NAMES: frozenset[str] = frozenset({"email", "http_fetch", "memory"})
# Names the runner itself uses (its own MCP server, Claude Code internals) or alias built-ins.
RESERVED_NAMES: frozenset[str] = BUILTIN_NAMES | frozenset(
    {"runner", "claude", "mcp", "builtin", "system", "ide", "http-fetch"}
)


def validate_name(name: object, *, allow_reserved: bool = False) -> str:
    """Return ``name`` if it is a valid server name, else raise :class:`InvalidServerName`.

    Lower-case letter first, then up to 63 of ``a-z 0-9 _ -``; no ``__`` (Claude Code joins
    ``mcp__<server>__<tool>`` with double underscores). Reserved names are refused unless
    ``allow_reserved`` (used when registering the built-ins themselves).
    """
    if not isinstance(name, str) or not name:
        raise InvalidServerName("server name is required")
    if not NAME_PATTERN.match(name):
        raise InvalidServerName(
            f"invalid server name {name[:80]!r}: use 1-64 characters, a lower-case letter first, "
            "then lower-case letters, digits, '_' or '-'"
        )
    if "__" in name:
        raise InvalidServerName(f"invalid server name {name!r}: '__' is not allowed")
    if not allow_reserved and name in RESERVED_NAMES:
        raise InvalidServerName(f"server name {name!r} is reserved")
    return name


def suggest_name(raw: str) -> str:
    """Best-effort valid name derived from a foreign one (``My.Server`` -> ``my-server``)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", raw.strip().lower())
    slug = re.sub(r"_{2,}", "_", slug).strip("-_")
    if not slug or not slug[0].isalpha():
        slug = f"s-{slug}" if slug else "server"
    return slug[:64].rstrip("-_") or "server"


def tool_id(server: str, tool: str) -> str:
    """Claude Code's name for a server's tool: ``mcp__<server>__<tool>``."""
    return f"mcp__{server}__{tool}"


def parse_tool_id(full: str) -> tuple[str, str]:
    """``mcp__<server>__<tool>`` -> ``(server, tool)``; raises ``ValueError`` otherwise.

    Server names never contain ``__``, so the first ``__`` after the prefix splits the two.
    """
    if not full.startswith("mcp__"):
        raise ValueError(f"not an MCP tool name: {full[:80]!r} (expected mcp__<server>__<tool>)")
    server, sep, tool = full[len("mcp__") :].partition("__")
    if not sep or not server or not tool:
        raise ValueError(f"not an MCP tool name: {full[:80]!r} (expected mcp__<server>__<tool>)")
    return server, tool
