"""Runtime settings, changed by the ``SettingsChanged`` event: names, defaults, validation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from projections.settings import BUILTIN_TOOLS, SETTING_NAMES, Settings, effective
from runner.approval_notify_input import check_notify_target
from runner.errors import InvalidInput

BUDGET_SETTINGS = ("default_budget_usd", "daily_budget_usd", "job_daily_budget_usd")

__all__ = ["BUILTIN_TOOLS", "SETTING_NAMES", "Settings", "effective", "validate_changes"]


def validate_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check a settings change; return it normalised or raise ``InvalidInput``."""
    if not changes:
        raise InvalidInput("no settings given; known settings: " + ", ".join(sorted(SETTING_NAMES)))
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in SETTING_NAMES:
            raise InvalidInput(
                f"unknown setting {key!r}; known settings: {', '.join(sorted(SETTING_NAMES))}",
                field=key,
            )
        try:
            typed = msgspec.convert({key: value}, Settings, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"setting {key!r}: {exc}", field=key)
        norm = getattr(typed, key)
        if isinstance(norm, float) and not math.isfinite(norm):
            raise InvalidInput(f"{key} must be a finite number", field=key)
        if key == "max_concurrent_runs" and not 1 <= norm <= 100:
            raise InvalidInput("max_concurrent_runs must be between 1 and 100", field=key)
        if key == "default_timeout_seconds" and not 0 < norm <= 86_400:
            raise InvalidInput("default_timeout_seconds must be > 0 and at most 86400", field=key)
        if key in BUDGET_SETTINGS and norm is not None and norm <= 0:
            raise InvalidInput(f"{key} must be a positive amount in USD or null", field=key)
        if key == "output_retention_days" and norm is not None and not 0 < norm <= 36_500:
            raise InvalidInput(
                "output_retention_days must be a number of days > 0 (at most 36500) or null",
                field=key,
            )
        if key in ("max_queued_per_job", "max_queued_per_webhook") and not 1 <= norm <= 100_000:
            raise InvalidInput(f"{key} must be between 1 and 100000", field=key)
        if key == "default_model" and not str(norm).strip():
            raise InvalidInput("default_model must not be empty", field=key)
        if key == "allowed_builtin_tools":
            unknown = [t for t in norm if t not in BUILTIN_TOOLS]
            if unknown:
                raise InvalidInput(
                    f"unknown built-in tools {unknown}; valid: {', '.join(BUILTIN_TOOLS)}",
                    field=key,
                )
            norm = list(norm)
        if key in ("approval_notify_email", "approval_notify_url") and norm is not None:
            norm = check_notify_target(key, str(norm))
        out[key] = norm
    return out
