"""Validating the "ask first" settings of a job, quick run or webhook (every door uses this)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runner.errors import InvalidInput
from runner.settings import BUILTIN_TOOLS

MAX_ENTRIES = 50
MAX_APPROVAL_TIMEOUT = 7 * 86_400.0
DEFAULT_APPROVAL_TIMEOUT = 3600.0
ON_TIMEOUT = ("deny_and_continue", "fail_run")
_NAME = r"[A-Za-z0-9_-]+"
_MCP = re.compile(rf"mcp__({_NAME})__(?:{_NAME}|\*)")
APPROVAL_FIELDS = (
    "ask_first",
    "ask_first_writes",
    "approval_timeout_seconds",
    "approval_on_timeout",
)


def _entries(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in value.replace("\n", ",").split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("ask_first must be a list of tool names", field="ask_first")
    return [v.strip() for v in value]


def validate_ask_first(value: Any, servers: Iterable[str]) -> tuple[str, ...]:
    """Built-in tool names, ``mcp__<server>__<tool>`` or ``mcp__<server>__*`` of the job's
    servers (``server:tool`` is accepted and normalised)."""
    entries = _entries(value)
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"ask_first has {len(entries)} entries; the limit is {MAX_ENTRIES}",
                           field="ask_first")  # fmt: skip
    known = set(servers)
    out: list[str] = []
    for raw in entries:
        name = raw
        if not name.startswith("mcp__") and ":" in name:
            server, tool = name.split(":", 1)
            name = f"mcp__{server.strip()}__{tool.strip()}"
        if name in BUILTIN_TOOLS:
            pass
        elif (m := _MCP.fullmatch(name)) is not None:
            if m.group(1) not in known:
                valid = ", ".join(sorted(known)) or "(none)"
                raise InvalidInput(
                    f"ask_first entry {raw!r} names server {m.group(1)!r}, which this job does "
                    f"not use; its servers: {valid}",
                    field="ask_first",
                )
        else:
            raise InvalidInput(
                f"ask_first entry {raw[:80]!r} is not a tool: use a built-in tool "
                f"({', '.join(BUILTIN_TOOLS)}), mcp__<server>__<tool> or mcp__<server>__*",
                field="ask_first",
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def approval_fields(merged: Mapping[str, Any], servers: Iterable[str]) -> dict[str, Any]:
    """The validated approval settings out of ``merged`` user input."""
    timeout = merged.get("approval_timeout_seconds")
    if timeout in (None, ""):
        timeout = None
    else:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"approval_timeout_seconds must be a number, got {timeout!r}",
                field="approval_timeout_seconds",
            )
        if not math.isfinite(timeout) or not 0 < timeout <= MAX_APPROVAL_TIMEOUT:
            raise InvalidInput(
                "approval_timeout_seconds must be > 0 and at most 604800 (7 days)",
                field="approval_timeout_seconds",
            )
    on_timeout = merged.get("approval_on_timeout") or "deny_and_continue"
    if on_timeout not in ON_TIMEOUT:
        raise InvalidInput(
            f"approval_on_timeout must be one of {', '.join(ON_TIMEOUT)}",
            field="approval_on_timeout",
        )
    writes = merged.get("ask_first_writes")
    if isinstance(writes, str):
        low = writes.strip().lower()
        writes = None if low in ("", "default") else low in ("1", "true", "yes", "on")
    if writes is not None and not isinstance(writes, bool):
        raise InvalidInput("ask_first_writes must be true, false or null", field="ask_first_writes")
    return {
        "ask_first": validate_ask_first(merged.get("ask_first"), servers),
        "ask_first_writes": writes,
        "approval_timeout_seconds": timeout,
        "approval_on_timeout": on_timeout,
    }
