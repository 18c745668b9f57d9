"""Assistant commands: start a conversation, post a message (each one a run), read them back.

A message becomes, in one atomic append, ``ConversationMessagePosted`` on the conversation's
stream (at the version read: two messages racing, one wins) and ``RunRequested`` (trigger
``assistant``, by the user) on a new run stream. The run's spec carries the conversation and
the session to resume; it has no built-in tools, only the runner's own MCP server (added by the
executor), and asks first before every tool that deletes, spends or runs code.
"""

from __future__ import annotations

from events.assistant import (
    AssistantCallRefused,
    AssistantTurn,
    ConversationDeleted,
    ConversationMessagePosted,
    ConversationStarted,
)
from events.backend import Backend
from events.catalogue import Event
from events.envelope import AppendRequest, ExpectedVersion, Meta
from events.errors import ConcurrencyError
from events.ids import new_id, run_stream
from events.runs import RunRequested, RunSpec
from projections import RunView
from projections.assistant import CONVERSATIONS, ConversationView
from projections.queries import assistant as assistant_queries
from projections.read import get_row, select_rows
from runner.errors import CommandError, Conflict, InvalidInput, NotFound
from runner.queries import Queries

MAX_MESSAGE = 8_000
"""Characters in one message (a conversation, not a document upload)."""
TITLE_CHARS = 80
SERVER = "runner"
ASK_FIRST: tuple[str, ...] = tuple(
    f"mcp__{SERVER}__{tool}"
    for tool in (
        # deletes or cannot be undone
        "delete_job",
        "delete_webhook",
        "delete_mcp_server",
        "delete_server_credential",
        "rotate_webhook_secret",
        "erase_run_output",
        "kill_run",
        "cancel_runs",
        # changes how everything runs
        "update_settings",
        # runs code
        "create_mcp_server",
        "update_mcp_server",
        "enable_mcp_server",
        "enable_fixed_server",
        "invoke_internal_mcp_tool",
        # spends
        "trigger_job",
        "quick_run",
    )
)
"""The assistant's own calls that wait for the user's approval, shown in the conversation."""


class Forbidden(CommandError):
    status = 403
    code = "forbidden"


def conversation_stream(conversation_id: str) -> str:
    return f"conversation-{conversation_id}"


def title_of(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def check_message(text: str) -> str:
    """The message as it will be sent; empty and over-long ones are refused with the limit."""
    if not text.strip():
        raise InvalidInput("the message is empty; type what you want done", field="message")
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(
            f"the message is {len(text)} characters; at most {MAX_MESSAGE} fit in one message",
            field="message",
        )
    if "\0" in text:
        raise InvalidInput("the message holds a NUL character", field="message")
    return text


class AssistantCommands:
    def __init__(self, store: Backend, queries: Queries) -> None:
        self.store = store
        self.q = queries

    async def get(self, conversation_id: str, *, user: str | None = None) -> ConversationView:
        """One conversation; another user's is refused (403), an unknown one is 404."""
        row: ConversationView | None = await get_row(self.store, CONVERSATIONS, conversation_id)
        if row is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        if user is not None and row.user != user:
            raise Forbidden(f"conversation {conversation_id!r} belongs to another user")
        return row

    async def of_user(self, user: str, *, limit: int = 100) -> list[ConversationView]:
        """The user's conversations, latest activity first."""
        rows: list[ConversationView] = await select_rows(
            self.store,
            CONVERSATIONS,
            assistant_queries.OF_USER,
            (user, limit),
        )
        return rows

    async def start(self, text: str, *, user: str) -> tuple[ConversationView, RunView]:
        """A new conversation whose first message is ``text`` (its title)."""
        text = check_message(text)
        cid = new_id("conv")
        started = ConversationStarted(conversation_id=cid, user=user, title=title_of(text))
        run = await self._turn(cid, user, text, None, [started], "no_stream")
        return await self.get(cid), run

    async def post(self, conversation_id: str, text: str, *, user: str) -> RunView:
        """The next message; refused while the previous turn is still running."""
        text = check_message(text)
        conv = await self.get(conversation_id, user=user)
        if conv.active_run is not None:
            raise Conflict(
                f"the previous message is still being answered (run {conv.active_run}); "
                "wait for it to finish or stop it"
            )
        version = await self.store.stream_version(conversation_stream(conversation_id))
        return await self._turn(conversation_id, user, text, conv.last_session, [], version)

    async def delete(self, conversation_id: str, *, user: str) -> None:
        """Delete a conversation (its runs stay); refused while a message is being answered.
        Its kept transcripts and workspace are removed by every node's turns actor."""
        conv = await self.get(conversation_id, user=user)
        if conv.active_run is not None:
            raise Conflict(
                f"a message is still being answered (run {conv.active_run}); stop it first"
            )
        stream = conversation_stream(conversation_id)
        try:
            await self.store.append(
                stream,
                [ConversationDeleted(conversation_id=conversation_id, by=user)],
                expected=await self.store.stream_version(stream),
                meta=Meta(actor=user),
            )
        except ConcurrencyError:
            raise Conflict("the conversation changed meanwhile; reload and try again")

    async def refuse(self, conversation_id: str, run_id: str, tool: str, reason: str) -> None:
        """Record a call the assistant may never make (the MCP endpoint refused it)."""
        await self.store.append(
            conversation_stream(conversation_id),
            [
                AssistantCallRefused(
                    conversation_id=conversation_id, run_id=run_id, tool=tool, reason=reason
                )
            ],
            meta=Meta(actor="mcp"),
        )

    async def _turn(
        self,
        cid: str,
        user: str,
        text: str,
        resume: str | None,
        first: list[Event],
        expected: ExpectedVersion,
    ) -> RunView:
        settings = await self.q.settings()
        run_id = new_id("run")
        spec = RunSpec(
            prompt=text,
            model=settings.default_model,
            timeout_seconds=settings.default_timeout_seconds,
            budget_usd=settings.default_budget_usd,
            ask_first=ASK_FIRST,
            assistant=AssistantTurn(conversation_id=cid, user=user, resume=resume),
        )
        posted = ConversationMessagePosted(
            conversation_id=cid, run_id=run_id, text=text, by=user, resume=resume
        )
        meta = Meta(actor=user)
        try:
            await self.store.append_atomic(
                [
                    AppendRequest(
                        stream=conversation_stream(cid),
                        events=(*first, posted),
                        expected=expected,
                        meta=meta,
                    ),
                    AppendRequest(
                        stream=run_stream(run_id),
                        events=(
                            RunRequested(
                                run_id=run_id, job_id=None, trigger="assistant", spec=spec
                            ),
                        ),
                        expected="no_stream",
                        meta=meta,
                    ),
                ]
            )
        except ConcurrencyError:
            raise Conflict("another message was posted at the same moment; send yours again")
        return await self.q.run(run_id)
