"""Live dashboard sessions (``v_sessions``): started, ended by logout, revocation or a password
change."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.envelope import Recorded
from events.sessions import SessionEnded, SessionStarted
from events.system import AdminPasswordChanged
from projections.base import Change, Table, View, simple_projection


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    session_hash: str
    user: str
    started_at_us: int
    expires_at_us: int
    ended_at_us: int | None = None
    reason: str | None = None


SESSIONS = Table(
    name="v_sessions",
    row_type=SessionView,
    columns=(("user", "TEXT"), ("live", "INTEGER")),
    extract=lambda r: (r.user, int(r.ended_at_us is None)),
    indexes=("user",),
)


def _end(view: View, key: str, now: int, reason: str) -> Iterable[Change]:
    row: SessionView | None = view.get(SESSIONS.name, key)
    if row is not None and row.ended_at_us is None:
        yield (SESSIONS.name, key, msgspec.structs.replace(row, ended_at_us=now, reason=reason))


def _handle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    now = rec.recorded_at_us
    match ev:
        case SessionStarted():
            yield (
                SESSIONS.name,
                ev.session_hash,
                SessionView(session_hash=ev.session_hash, user=ev.user, started_at_us=now,
                            expires_at_us=ev.expires_at_us),
            )  # fmt: skip
        case SessionEnded():
            yield from _end(view, ev.session_hash, now, ev.reason)
        case AdminPasswordChanged():
            for key in list(view.keys(SESSIONS.name)):
                row: SessionView | None = view.get(SESSIONS.name, key)
                if row is not None and row.user == ev.username:
                    yield from _end(view, key, now, "password_changed")


sessions_projection = simple_projection(
    "sessions",
    (SESSIONS,),
    {t: _handle for t in (SessionStarted, SessionEnded, AdminPasswordChanged)},
)
