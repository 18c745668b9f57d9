"""Dashboard sign-in sessions, server-side: a signed cookie alone no longer signs anyone in.

The cookie carries a random session id; the log keeps only its SHA-256 (``session_hash``). A
session ends on logout, on "sign out everywhere", and when the admin password changes (the
projection folds ``AdminPasswordChanged`` into the end of every live session of that user).
"""

from __future__ import annotations

import msgspec


class SessionStarted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    session_hash: str
    user: str
    expires_at_us: int


class SessionEnded(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    session_hash: str
    reason: str  # "logout" | "revoked"


SessionEvent = SessionStarted | SessionEnded
