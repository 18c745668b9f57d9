"""The conversations view: each dashboard conversation with its turns, newest activity first."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.assistant import (
    AssistantCallRefused,
    ConversationDeleted,
    ConversationMessagePosted,
    ConversationStarted,
    ConversationTurnEnded,
)
from events.envelope import Recorded
from projections.base import Change, Table, View, simple_projection

__all__ = ["CONVERSATIONS", "ConversationView", "TurnView", "conversations_projection"]


class TurnView(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    text: str
    by: str
    posted_at_us: int
    state: str = "running"
    """running | succeeded | failed | timed_out | cancelled | crashed | skipped"""
    session_id: str | None = None
    resumed: str | None = None
    """The session this turn resumed (``None``: the first turn, or nothing to resume)."""
    result_text: str = ""
    detail: str = ""
    cost_usd: float = 0.0


class ConversationView(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str
    user: str
    title: str
    started_at_us: int
    updated_at_us: int
    turns: tuple[TurnView, ...] = ()
    active_run: str | None = None
    """The run of the turn in flight (a new message waits until it ends)."""
    last_session: str | None = None
    """The CLI session the next message resumes: the newest one any turn recorded."""
    refusals: tuple[str, ...] = ()
    """Calls the assistant may never make that it tried (shown in the conversation)."""
    cost_usd: float = 0.0


CONVERSATIONS = Table(
    name="v_conversations",
    row_type=ConversationView,
    columns=(("owner", "TEXT"), ("updated_at", "INTEGER")),
    extract=lambda r: (r.user, r.updated_at_us),
    indexes=("owner, updated_at",),
)


def _started(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ConversationStarted)
    yield (
        CONVERSATIONS.name,
        ev.conversation_id,
        ConversationView(
            conversation_id=ev.conversation_id,
            user=ev.user,
            title=ev.title,
            started_at_us=rec.recorded_at_us,
            updated_at_us=rec.recorded_at_us,
        ),
    )


def _posted(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ConversationMessagePosted)
    row: ConversationView | None = view.get(CONVERSATIONS.name, ev.conversation_id)
    if row is None:
        return
    turn = TurnView(
        run_id=ev.run_id, text=ev.text, by=ev.by, posted_at_us=rec.recorded_at_us, resumed=ev.resume
    )
    yield (
        CONVERSATIONS.name,
        ev.conversation_id,
        msgspec.structs.replace(
            row,
            turns=(*row.turns, turn),
            active_run=ev.run_id,
            updated_at_us=rec.recorded_at_us,
        ),
    )


def _ended(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ConversationTurnEnded)
    row: ConversationView | None = view.get(CONVERSATIONS.name, ev.conversation_id)
    if row is None or not row.turns:
        return
    turns = list(row.turns)
    # A run that is not a posted turn is a retry of the last one (asked again after a restart).
    at = next((i for i, t in enumerate(turns) if t.run_id == ev.run_id), len(turns) - 1)
    turns[at] = msgspec.structs.replace(
        turns[at],
        run_id=ev.run_id,
        state=ev.state,
        session_id=ev.session_id,
        result_text=ev.result_text,
        detail=ev.detail,
        cost_usd=ev.cost_usd,
    )
    yield (
        CONVERSATIONS.name,
        ev.conversation_id,
        msgspec.structs.replace(
            row,
            turns=tuple(turns),
            active_run=None if at == len(turns) - 1 else row.active_run,
            last_session=ev.session_id or row.last_session,
            cost_usd=round(row.cost_usd + ev.cost_usd, 6),
            updated_at_us=rec.recorded_at_us,
        ),
    )


def _refused(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, AssistantCallRefused)
    row: ConversationView | None = view.get(CONVERSATIONS.name, ev.conversation_id)
    if row is None:
        return
    note = f"{ev.tool}: {ev.reason}"
    yield (
        CONVERSATIONS.name,
        ev.conversation_id,
        msgspec.structs.replace(row, refusals=(*row.refusals, note)[-50:]),
    )


def _deleted(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ConversationDeleted)
    if view.get(CONVERSATIONS.name, ev.conversation_id) is not None:
        yield (CONVERSATIONS.name, ev.conversation_id, None)


conversations_projection = simple_projection(
    "conversations",
    (CONVERSATIONS,),
    {
        ConversationStarted: _started,
        ConversationMessagePosted: _posted,
        ConversationTurnEnded: _ended,
        AssistantCallRefused: _refused,
        ConversationDeleted: _deleted,
    },
)
