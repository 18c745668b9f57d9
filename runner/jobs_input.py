"""Validating job definitions: user input into a ``JobSpec``, or an error saying what to fix."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from actors.cron import CronError, validate_cron, zone
from events.jobs import JobSpec, RetryPolicy
from runner.approvals_input import approval_fields
from runner.errors import InvalidInput
from runner.node_labels import optional_label
from runner.settings import BUILTIN_TOOLS
from runner.text import validate_name

MAX_NAME = 200
MAX_PROMPT = 100_000
JOB_FIELDS = frozenset(JobSpec.__struct_fields__)
OVERLAP = ("skip", "buffer_one", "allow", "cancel_previous")
CATCH_UP = ("skip", "latest", "all")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check_display_name(name: str, field: str = "name") -> str:
    """Refuse control characters in a name shown on terminals and pages (ANSI escapes, NUL,
    newlines that forge rows, bidi overrides that reorder text); returns ``name``."""
    bad = _CONTROL.search(name)
    if bad is not None:
        raise InvalidInput(
            f"{field} contains the control character U+{ord(bad.group()):04X} at position "
            f"{bad.start()}; use printable characters only",
            field=field,
        )
    return name


def _num(data: Mapping[str, Any], key: str, *, integer: bool = False) -> float | int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        num = int(value) if integer else float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise InvalidInput(f"{key} must be {kind}, got {value!r}", field=key)
    if isinstance(num, float) and not math.isfinite(num):
        raise InvalidInput(f"{key} must be a finite number", field=key)
    return num


def normalize_tool(name: str) -> tuple[str, str | None]:
    """``server:tool`` / ``server.tool`` → ``mcp__server__tool`` (with a warning)."""
    name = name.strip()
    if name in BUILTIN_TOOLS or (name.startswith("mcp__") and "__" in name[5:]):
        return name, None
    for sep in (":", "."):
        if sep in name:
            server, tool = name.split(sep, 1)
            fixed = f"mcp__{server.strip()}__{tool.strip()}"
            return fixed, f"normalized tool {name!r} to {fixed!r}"
    return name, None


def _str_list(value: Any, key: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in value.replace("\n", ",").split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{key} must be a list of names", field=key)
    return [v.strip() for v in value]


def validate_tools(
    tools: Iterable[str],
    servers: Iterable[str],
    *,
    allowed_builtins: Iterable[str],
    known_servers: Mapping[str, bool],
    server_tools: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Check tool and server names against what exists; returns (tools, servers, warnings)."""
    warnings: list[str] = []
    allowed = tuple(allowed_builtins)
    server_list = tuple(dict.fromkeys(servers))
    for s in server_list:
        if s not in known_servers:
            valid = ", ".join(sorted(known_servers)) or "(none registered yet)"
            raise InvalidInput(
                f"unknown MCP server {s!r}; valid servers: {valid}", field="mcp_servers"
            )
        if not known_servers[s]:
            raise InvalidInput(
                f"MCP server {s!r} is disabled; enable it first", field="mcp_servers"
            )
    out: list[str] = []
    for raw in tools:
        name, warning = normalize_tool(raw)
        if warning:
            warnings.append(warning)
        if name.startswith("mcp__"):
            server = name[5:].split("__", 1)[0]
            if server not in known_servers:
                valid = ", ".join(sorted(known_servers)) or "(none registered yet)"
                raise InvalidInput(
                    f"tool {raw!r} names unknown MCP server {server!r}; valid servers: {valid}",
                    field="tools",
                )
            tool = name[5:].split("__", 1)[1] if "__" in name[5:] else ""
            offered = (server_tools or {}).get(server)
            if offered and tool not in offered:
                raise InvalidInput(
                    f"server {server!r} has no tool {tool!r}; its tools: "
                    + ", ".join(f"mcp__{server}__{t}" for t in offered),
                    field="tools",
                )
            if server not in server_list:
                server_list = (*server_list, server)
                warnings.append(f"added MCP server {server!r} because tool {name!r} needs it")
        elif name not in allowed:
            raise InvalidInput(
                f"unknown or disallowed tool {raw!r}; valid built-in tools: {', '.join(allowed)}, "
                "or MCP tools as mcp__<server>__<tool>",
                field="tools",
            )
        if name not in out:
            out.append(name)
    return tuple(out), server_list, warnings


def build_spec(data: Mapping[str, Any], base: JobSpec | None = None) -> JobSpec:
    """Merge ``data`` over ``base`` (or defaults) and validate every field."""
    unknown = set(data) - JOB_FIELDS
    if unknown:
        raise InvalidInput(
            f"unknown job fields {sorted(unknown)}; valid: {', '.join(sorted(JOB_FIELDS))}"
        )
    merged: dict[str, Any] = msgspec.structs.asdict(base) if base else {}
    merged.update(data)
    name = validate_name(merged.get("name") or "", field="name", limit=MAX_NAME)
    prompt = str(merged.get("prompt") or "")
    if not prompt.strip():
        raise InvalidInput("prompt must not be empty", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise InvalidInput(
            f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT}", field="prompt"
        )
    cron = merged.get("cron")
    tz = str(merged.get("timezone") or "UTC")
    try:
        cron = None if cron in (None, "", "manual") else validate_cron(str(cron))
        zone(tz)
    except CronError as exc:
        raise InvalidInput(exc.message, field=exc.field)
    timeout = _num(merged, "timeout_seconds")
    if timeout is not None and not 0 < timeout <= 86_400:
        raise InvalidInput(
            "timeout_seconds must be > 0 and at most 86400 (24 h)", field="timeout_seconds"
        )
    max_turns = _num(merged, "max_turns", integer=True)
    if max_turns is not None and not 1 <= max_turns <= 1000:
        raise InvalidInput("max_turns must be between 1 and 1000", field="max_turns")
    budget = _num(merged, "budget_usd")
    if budget is not None and budget <= 0:
        raise InvalidInput("budget_usd must be a positive amount in USD", field="budget_usd")
    window = _num(merged, "catch_up_window_seconds")
    if window is None or window < 0:
        if window is not None:
            raise InvalidInput(
                "catch_up_window_seconds must be >= 0", field="catch_up_window_seconds"
            )
        window = 3600.0
    overlap: Any = merged.get("overlap") or "skip"
    if overlap not in OVERLAP:
        raise InvalidInput(f"overlap must be one of {', '.join(OVERLAP)}", field="overlap")
    catch_up: Any = merged.get("catch_up") or "skip"
    if catch_up not in CATCH_UP:
        raise InvalidInput(f"catch_up must be one of {', '.join(CATCH_UP)}", field="catch_up")
    retry_raw = merged.get("retry") or {}
    try:
        retry = msgspec.convert(retry_raw, RetryPolicy, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"retry: {exc}", field="retry")
    if not 1 <= retry.max_attempts <= 10 or retry.backoff_seconds < 0 or retry.backoff_factor < 1:
        raise InvalidInput(
            "retry needs max_attempts 1-10, backoff_seconds >= 0 and backoff_factor >= 1",
            field="retry",
        )
    model = merged.get("model")
    enabled = merged.get("enabled", True)
    if isinstance(enabled, str):
        enabled = enabled.lower() in ("1", "true", "yes", "on")
    tools = tuple(_str_list(merged.get("tools"), "tools"))
    servers = tuple(_str_list(merged.get("mcp_servers"), "mcp_servers"))
    names = (normalize_tool(t)[0] for t in tools)
    implied = [n[5:].split("__", 1)[0] for n in names if n.startswith("mcp__")]
    approvals = approval_fields(merged, (*servers, *implied))
    return JobSpec(
        name=name,
        prompt=prompt,
        cron=cron,
        timezone=tz,
        enabled=bool(enabled),
        model=str(model).strip() if model else None,
        tools=tools,
        mcp_servers=servers,
        timeout_seconds=timeout,
        max_turns=int(max_turns) if max_turns is not None else None,
        budget_usd=budget,
        retry=retry,
        overlap=overlap,
        catch_up=catch_up,
        catch_up_window_seconds=float(window),
        node_label=optional_label(merged),
        **approvals,
    )
