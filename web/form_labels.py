"""Error messages in the words of the forms: internal field names become the labels users see."""

from __future__ import annotations

import re

LABELS: dict[str, str] = {
    "retry.max_attempts": "Retries (attempts)",
    "retry.backoff_seconds": "Retry backoff (s)",
    "retry.backoff_factor": "retry backoff growth",
    "retry.max_backoff_seconds": "longest retry backoff",
    "max_attempts": "Retries (attempts)",
    "backoff_seconds": "Retry backoff (s)",
    "backoff_factor": "retry backoff growth",
    "max_backoff_seconds": "longest retry backoff",
    "timeout_seconds": "Timeout (s)",
    "max_turns": "Max turns",
    "budget_usd": "Budget (USD)",
    "catch_up_window_seconds": "Catch-up window (s)",
    "catch_up": "Catch-up",
    "overlap": "Overlap",
    "mcp_servers": "MCP servers",
    "timezone": "Time zone",
    "max_concurrent_runs": "Concurrent runs",
    "default_model": "Default model",
    "default_timeout_seconds": "Default timeout (s)",
    "default_budget_usd": "Default budget per run (USD)",
    "daily_budget_usd": "Daily budget (USD)",
    "allowed_builtin_tools": "Allowed built-in tools",
    "sandbox_mode": "Sandbox mode",
}
_NAMES = re.compile(
    r"'?\b(" + "|".join(re.escape(k) for k in sorted(LABELS, key=len, reverse=True)) + r")\b'?"
)


def friendly(message: str) -> str:
    """``message`` with every internal field name replaced by its label."""
    text = _NAMES.sub(lambda m: LABELS[m.group(1)], message)
    return text.removeprefix("setting ").strip()


def friendly_all(errors: dict[str, str]) -> dict[str, str]:
    return {k: friendly(v) for k, v in errors.items()}
