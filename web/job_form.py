"""The job form (also used by Quick Run): form fields to command input, and errors per field."""

from __future__ import annotations

from typing import Any

import msgspec
from werkzeug.datastructures import MultiDict

from projections.settings import BUILTIN_TOOLS
from runner.errors import InvalidInput
from runner.jobs_input import build_spec, validate_tools
from web.context import web
from web.form_labels import friendly_all

NUM_FIELDS = ("timeout_seconds", "max_turns", "budget_usd", "catch_up_window_seconds")


def approval_form_data(form: MultiDict[str, str]) -> dict[str, Any]:
    """The "ask first" fields (validated by ``runner.approvals_input``)."""
    return {
        "ask_first": form.get("ask_first", ""),
        "ask_first_writes": form.get("ask_first_writes", "default"),
        "approval_timeout_seconds": form.get("approval_timeout_seconds", "").strip() or None,
        "approval_on_timeout": form.get("approval_on_timeout") or "deny_and_continue",
    }


def job_form_data(form: MultiDict[str, str]) -> dict[str, Any]:
    tools = [t for t in form.getlist("tools") if t]
    tools += [t.strip() for t in form.get("extra_tools", "").replace("\n", ",").split(",")]
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "prompt": form.get("prompt", ""),
        "cron": form.get("cron", "").strip() or None,
        "timezone": form.get("timezone", "").strip() or "UTC",
        "model": form.get("model", "").strip() or None,
        "tools": [t for t in tools if t],
        "mcp_servers": [s for s in form.getlist("mcp_servers") if s],
        "overlap": form.get("overlap") or "skip",
        "catch_up": form.get("catch_up") or "skip",
        "enabled": form.get("enabled") == "on",
        "retry": {
            "max_attempts": form.get("retry_max_attempts") or 1,
            "backoff_seconds": form.get("retry_backoff_seconds") or 30,
        },
    }
    for key in NUM_FIELDS:
        data[key] = form.get(key, "").strip() or None
    data.update(approval_form_data(form))
    data["node_label"] = form.get("node_label", "").strip() or None
    if data["catch_up_window_seconds"] is None:
        data["catch_up_window_seconds"] = 3600
    return data


_FALLBACK: dict[str, Any] = {
    "name": "x", "prompt": "x", "cron": None, "timezone": "UTC", "model": None, "tools": [],
    "mcp_servers": [], "timeout_seconds": None, "max_turns": None, "budget_usd": None,
    "overlap": "skip", "catch_up": "skip", "catch_up_window_seconds": 3600, "retry": {},
    "ask_first": [], "ask_first_writes": None, "approval_timeout_seconds": None,
    "approval_on_timeout": "deny_and_continue", "node_label": None,
}  # fmt: skip


async def field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Every invalid field of a job form at once, in the form's words."""
    return friendly_all(await _field_errors(data))


async def _field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Every invalid field of a job form at once (the commands stop at the first one)."""
    q = web().runner.queries
    settings = await q.settings()
    known = await q.known_servers()
    errors: dict[str, str] = {}
    probe = dict(data)
    for _ in range(len(_FALLBACK) + 1):
        try:
            spec = build_spec(probe)
            validate_tools(
                spec.tools,
                spec.mcp_servers,
                allowed_builtins=settings.allowed_builtin_tools,
                known_servers=known,
            )
            return errors
        except InvalidInput as exc:
            key = exc.field or "form"
            if key in errors or key not in _FALLBACK:
                errors.setdefault(key, exc.message)
                return errors
            errors[key] = exc.message
            probe[key] = _FALLBACK[key]
    return errors


async def form_context(values: dict[str, Any]) -> dict[str, Any]:
    q = web().runner.queries
    settings = await q.settings()
    return {
        "v": values,
        "builtin_tools": [t for t in BUILTIN_TOOLS if t in settings.allowed_builtin_tools],
        "servers": await q.servers(),
        "settings": settings,
    }


def values_of(spec: Any) -> dict[str, Any]:
    v: dict[str, Any] = msgspec.to_builtins(spec)
    v["extra_tools"] = ", ".join(t for t in v.get("tools", []) if t.startswith("mcp__"))
    return v
