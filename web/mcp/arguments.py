"""Tool arguments as the model should read their problems: ``field: what to fix``.

The SDK validates arguments with pydantic and would pass its text on ("1 validation error for
list_runsArguments ... Input should be less than or equal to 200 [type=less_than_equal, ...]").
:func:`describe_errors` turns each error into one line naming the field (dotted for nested
objects, ``[i]`` for list items), what is expected, and what was given; :func:`unknown_arguments`
names arguments the tool does not take (pydantic would silently drop them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

__all__ = ["describe_errors", "tool_title", "unknown_arguments"]

_EXPECT = {
    "missing": "required",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "json_invalid": "must be valid JSON",
    "extra_forbidden": "is not a known field",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
    "recursion_loop": "is nested too deeply",
}
_BOUNDS = {
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "too_long": ("max_length", "may have at most {} items"),
    "too_short": ("min_length", "needs at least {} items"),
    "string_too_long": ("max_length", "may be at most {} characters"),
    "string_too_short": ("min_length", "needs at least {} characters"),
    "literal_error": ("expected", "must be one of {}"),
    "enum": ("expected", "must be one of {}"),
}


def _where(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "arguments"


def _given(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fix(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, template = _BOUNDS[kind]
        return template.format(ctx[key])
    if kind in _EXPECT:
        return _EXPECT[kind]
    msg = str(error.get("msg", "is not valid"))
    return msg[0].lower() + msg[1:] if msg else "is not valid"


def describe_errors(exc: ValidationError, *, limit: int = 8) -> str:
    """``field: what to fix (got ...)`` for each distinct field, ``; ``-separated."""
    lines: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        where = _where(error.get("loc", ()))
        if where in lines:  # the other branches of a union say the same thing again
            continue
        line = f"{where}: {_fix(error)}"
        if error.get("type") != "missing" and "input" in error:
            line += f" (got {_given(error['input'])})"
        lines[where] = line
    shown = list(lines.values())
    more = len(shown) - limit
    text = "; ".join(shown[:limit])
    return text + (f"; and {more} more" if more > 0 else "")


def unknown_arguments(arguments: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """``name: not an argument of this tool; valid arguments: ...`` or None when all known."""
    known = set((schema.get("properties") or {}).keys())
    unknown = sorted(str(k) for k in arguments if k not in known)
    if not unknown:
        return None
    valid = ", ".join(sorted(known)) or "none"
    names = ", ".join(repr(u[:60]) for u in unknown[:5])
    return f"{names}: not an argument of this tool; valid arguments: {valid}"


_WORDS = {"mcp": "MCP", "id": "ID"}


def tool_title(name: str) -> str:
    """A readable title from a tool name: ``get_run_events`` → ``Get run events``."""
    words = [_WORDS.get(w, w) for w in name.split("_") if w]
    if not words:
        return name
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])
