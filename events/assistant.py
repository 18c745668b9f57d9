"""Assistant events: a dashboard user's conversation with Claude, on ``conversation-<id>``.

``ConversationStarted`` → (``ConversationMessagePosted`` → ``ConversationTurnEnded``)* →
``ConversationDeleted``? Each
message is one run (trigger ``assistant``) whose spec carries an :class:`AssistantTurn`; the turn
ends when that run ends, with the CLI session id the next message resumes. A call the assistant
may not make (answering approvals) is refused and recorded as ``AssistantCallRefused``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

TurnState = Literal["succeeded", "failed", "timed_out", "cancelled", "crashed", "skipped"]


class AssistantTurn(msgspec.Struct, frozen=True, kw_only=True):
    """What makes a run an assistant turn (part of its ``RunSpec``)."""

    conversation_id: str
    user: str
    """The dashboard user the turn acts as (its MCP credential's subject)."""
    resume: str | None = None
    """The CLI session id of the last recorded turn (``--resume``); ``None`` on the first."""


class ConversationStarted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    conversation_id: str
    user: str
    title: str
    """The first message, shortened."""


class ConversationMessagePosted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    conversation_id: str
    run_id: str
    text: str
    by: str
    resume: str | None = None


class ConversationTurnEnded(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    conversation_id: str
    run_id: str
    state: TurnState
    session_id: str | None = None
    """The CLI session of this turn (``None`` when the run never reported one)."""
    result_text: str = ""
    detail: str = ""
    cost_usd: float = 0.0


class AssistantCallRefused(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The assistant called a tool it may never use (e.g. answering its own approvals)."""

    conversation_id: str
    run_id: str
    tool: str
    reason: str


class ConversationDeleted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Gone from the list; its kept CLI transcripts and workspace are removed (its runs stay)."""

    conversation_id: str
    by: str


AssistantEvent = (
    ConversationStarted
    | ConversationMessagePosted
    | ConversationTurnEnded
    | AssistantCallRefused
    | ConversationDeleted
)
