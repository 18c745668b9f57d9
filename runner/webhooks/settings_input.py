"""Validating a webhook's settings: what a user typed into the fields of ``WebhookCreated``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.templates import validate_template
from events.runs import RunSpec
from projections import WebhookView
from runner.approvals_input import APPROVAL_FIELDS
from runner.errors import InvalidInput
from runner.jobs_input import build_spec, validate_tools

MAX_RATE_PER_MINUTE = 100_000.0
MAX_BURST = 10_000
CREATE_FIELDS = frozenset(
    {
        "name",
        "prompt_template",
        "description",
        "tools",
        "mcp_servers",
        "model",
        "timeout_seconds",
        "max_turns",
        "budget_usd",
        "scheme",
        "secret",
        "rate_per_minute",
        "burst",
        "node_label",
        *APPROVAL_FIELDS,
    }
)


def _num(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{key} must be a number, got {value!r}", field=key)
    if num != num or num in (float("inf"), float("-inf")):
        raise InvalidInput(f"{key} must be a finite number", field=key)
    return num


def webhook_fields(
    data: Mapping[str, Any],
    base: WebhookView | None,
    *,
    allowed_builtins: tuple[str, ...],
    known_servers: Mapping[str, bool],
) -> tuple[dict[str, Any], list[str]]:
    """Merge ``data`` over ``base`` and validate; returns the event fields and warnings."""
    merged: dict[str, Any] = {}
    if base is not None:
        merged = {
            "name": base.name,
            "prompt_template": base.prompt_template,
            "description": base.description,
            "tools": list(base.spec.tools),
            "mcp_servers": list(base.spec.mcp_servers),
            "model": base.spec.model,
            "timeout_seconds": base.spec.timeout_seconds,
            "max_turns": base.spec.max_turns,
            "budget_usd": base.spec.budget_usd,
            "rate_per_minute": base.rate_per_minute,
            "burst": base.burst,
            "node_label": base.spec.node_label,
            **{k: getattr(base.spec, k) for k in APPROVAL_FIELDS},
        }
    merged.update(data)
    template = merged.get("prompt_template")
    if not isinstance(template, str):
        raise InvalidInput("prompt_template is required", field="prompt_template")
    problems = validate_template(template)
    if problems:
        raise InvalidInput("; ".join(problems), field="prompt_template")
    spec = build_spec(
        {
            "name": merged.get("name"),
            "prompt": template,
            "tools": merged.get("tools"),
            "mcp_servers": merged.get("mcp_servers"),
            "model": merged.get("model"),
            "timeout_seconds": merged.get("timeout_seconds"),
            "max_turns": merged.get("max_turns"),
            "budget_usd": merged.get("budget_usd"),
            "node_label": merged.get("node_label"),
            **{k: merged.get(k) for k in APPROVAL_FIELDS},
        }
    )
    tools, servers, warnings = validate_tools(
        spec.tools,
        spec.mcp_servers,
        allowed_builtins=allowed_builtins,
        known_servers=known_servers,
    )
    rate = _num(merged, "rate_per_minute", 60.0)
    if not 0 < rate <= MAX_RATE_PER_MINUTE:
        raise InvalidInput(
            f"rate_per_minute must be > 0 and at most {MAX_RATE_PER_MINUTE:.0f}",
            field="rate_per_minute",
        )
    burst = _num(merged, "burst", 20)
    if burst != int(burst) or not 1 <= burst <= MAX_BURST:
        raise InvalidInput(f"burst must be a whole number 1-{MAX_BURST}", field="burst")
    description = str(merged.get("description") or "")
    if len(description) > 2000:
        raise InvalidInput("description is longer than 2000 characters", field="description")
    fields = {
        "name": spec.name,
        "prompt_template": template,
        "description": description,
        "spec": RunSpec(
            prompt=template,
            model=spec.model,
            tools=tools,
            mcp_servers=servers,
            timeout_seconds=spec.timeout_seconds,
            max_turns=spec.max_turns,
            budget_usd=spec.budget_usd,
            ask_first=spec.ask_first,
            ask_first_writes=spec.ask_first_writes,
            approval_timeout_seconds=spec.approval_timeout_seconds,
            approval_on_timeout=spec.approval_on_timeout,
            node_label=spec.node_label,
        ),
        "rate_per_minute": rate,
        "burst": int(burst),
    }
    return fields, warnings
