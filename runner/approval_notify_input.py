"""Checking the approval-notification settings (an address, an http(s) URL)."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from runner.errors import InvalidInput


def check_notify_target(key: str, value: str) -> str | None:
    """The normalised setting, ``None`` for an empty one, or ``InvalidInput`` naming the fix."""
    value = value.strip()
    if not value:
        return None
    if key == "approval_notify_email":
        addr = parseaddr(value)[1]
        if "@" not in addr or any(c in value for c in "\r\n,;") or len(value) > 320:
            raise InvalidInput("approval_notify_email must be one email address", field=key)
        return addr
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(value) > 2000:
        raise InvalidInput("approval_notify_url must be an http(s) URL", field=key)
    if parts.username or parts.password:
        raise InvalidInput("approval_notify_url must not hold credentials", field=key)
    return value
