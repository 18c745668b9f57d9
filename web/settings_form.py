"""The Settings form: every invalid field at once in the form's words, and the one-time view of
a new API token after the redirect that follows its creation (post/redirect/get)."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Any

from quart import session
from werkzeug.datastructures import MultiDict

from runner.errors import InvalidInput
from runner.settings import validate_changes
from web.form_labels import LABELS, friendly

_KINDS = {
    "max_concurrent_runs": "a whole number",
    "default_timeout_seconds": "a number of seconds",
    "default_budget_usd": "an amount in USD (or empty for none)",
    "daily_budget_usd": "an amount in USD (or empty for none)",
    "job_daily_budget_usd": "an amount in USD (or empty for none)",
}
TOKEN_TTL = 120.0
_shown: OrderedDict[str, tuple[float, str, Any]] = OrderedDict()


def settings_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """The typed values, as typed (shown again when something is wrong)."""
    return {
        "max_concurrent_runs": form.get("max_concurrent_runs", "").strip(),
        "default_model": form.get("default_model", "").strip(),
        "default_timeout_seconds": form.get("default_timeout_seconds", "").strip(),
        "default_budget_usd": form.get("default_budget_usd", "").strip() or None,
        "daily_budget_usd": form.get("daily_budget_usd", "").strip() or None,
        "job_daily_budget_usd": form.get("job_daily_budget_usd", "").strip() or None,
        "allowed_builtin_tools": form.getlist("allowed_builtin_tools"),
        "sandbox_mode": form.get("sandbox_mode", ""),
    }


def settings_errors(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The normalised changes and an error per invalid field (each checked on its own)."""
    wanted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in changes.items():
        try:
            wanted.update(validate_changes({key: value}))
        except InvalidInput as exc:
            if "Expected" in exc.message and key in _KINDS:
                errors[key] = f"{LABELS.get(key, key)} must be {_KINDS[key]}."
            else:
                errors[key] = friendly(exc.message)
    return wanted, errors


def stash_token(token: Any) -> str:
    """Keep a new token for one view by this session; the redirect URL carries only a handle."""
    now = time.monotonic()
    while _shown and (len(_shown) > 100 or next(iter(_shown.values()))[0] < now - TOKEN_TTL):
        _shown.popitem(last=False)
    handle = secrets.token_urlsafe(16)
    _shown[handle] = (now, str(session.get("user", "")), token)
    return handle


def take_token(handle: str) -> Any:
    """The stashed token once (same session user, not expired), then never again."""
    item = _shown.pop(handle[:64], None) if handle else None
    if item is None:
        return None
    at, user, token = item
    if user != str(session.get("user", "")) or at < time.monotonic() - TOKEN_TTL:
        return None
    return token
