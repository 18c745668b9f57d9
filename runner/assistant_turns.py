"""The actor that ends conversation turns: when an assistant run ends (any process's, crashes
after a restart included) it appends ``ConversationTurnEnded`` with the run's CLI session id, the
one the conversation's next message resumes.

At start it first ends the turns whose run ended while no service followed the log; then it
follows terminal run events (and removes a deleted conversation's kept folders). Each end is
appended at the conversation's version it read and only for a turn still running, so two
processes (or a replay) end a turn once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import anyio

from actors.assistant_run import forget_conversation
from events.assistant import ConversationDeleted, ConversationTurnEnded, TurnState
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.runs import TERMINAL_RUN_EVENTS
from projections import TERMINAL_STATES, RunView
from projections.assistant import CONVERSATIONS, ConversationView
from projections.queries import assistant as assistant_queries
from projections.read import select_rows
from runner.app import Runner
from runner.commands.assistant import conversation_stream
from runner.errors import NotFound

log = logging.getLogger("runner.assistant")
STATES: frozenset[str] = frozenset(get_args(TurnState))


def turn_end(run: RunView) -> ConversationTurnEnded | None:
    """The turn's end as the finished ``run`` says (``None``: not an ended assistant turn)."""
    turn = run.spec.assistant
    if turn is None or run.state not in TERMINAL_STATES:
        return None
    state = run.state if run.state in STATES else "failed"
    detail = " ".join(x for x in (run.reason or "", run.message or "") if x)
    return ConversationTurnEnded(
        conversation_id=turn.conversation_id,
        run_id=run.run_id,
        state=state,  # type: ignore[arg-type]
        session_id=run.session_id,
        result_text=run.result_text,
        detail=detail[:2000],
        cost_usd=run.cost_usd,
    )


def prune_folders(data_dir: Path, live: set[str]) -> list[str]:
    """Remove the kept folders of conversations that no longer exist (deleted while this
    process was not following the log); the ids removed."""
    root = data_dir / "assistant"
    gone = (
        [d.name for d in root.iterdir() if d.is_dir() and d.name not in live]
        if root.is_dir()
        else []
    )
    removed = []
    for cid in gone:
        try:
            forget_conversation(data_dir, cid)
        except ValueError:  # not a folder we made: leave it alone
            continue
        removed.append(cid)
    return removed


class AssistantTurns:
    """Appends ``ConversationTurnEnded`` for every assistant run that ends."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.from_position: int | None = None

    async def run(self) -> None:
        store = self.runner.store
        head = self.from_position if self.from_position is not None else await store.head()
        await self.catch_up()
        async with store.subscribe(from_position=head) as sub:
            async for rec in sub:
                ev = rec.event
                if isinstance(ev, TERMINAL_RUN_EVENTS):
                    await self.end(str(getattr(ev, "run_id", "")))
                elif isinstance(ev, ConversationDeleted):
                    await anyio.to_thread.run_sync(
                        forget_conversation, self.runner.config.data_dir, ev.conversation_id
                    )

    async def catch_up(self) -> int:
        """End the open turns whose runs already ended; how many were ended."""
        rows: list[ConversationView] = await select_rows(
            self.runner.store, CONVERSATIONS, assistant_queries.LATEST, (100_000,)
        )
        ended = 0
        for conv in rows:
            if conv.active_run is not None and await self.end(conv.active_run):
                ended += 1
        await anyio.to_thread.run_sync(
            prune_folders, self.runner.config.data_dir, {c.conversation_id for c in rows}
        )
        return ended

    async def end(self, run_id: str) -> bool:
        """Append the turn's end if ``run_id`` is an assistant run that ended and its turn is
        still open; ``True`` when appended."""
        try:
            run = await self.runner.queries.run(run_id)
        except NotFound:
            return False
        ev = turn_end(run)
        if ev is None:
            return False
        stream = conversation_stream(ev.conversation_id)
        for _ in range(5):
            version = await self.runner.store.stream_version(stream)
            try:
                conv = await self.runner.assistant.get(ev.conversation_id)
            except NotFound:
                return False
            done = any(t.run_id == run_id and t.state != "running" for t in conv.turns)
            if done:
                return False
            try:
                await self.runner.store.append(
                    stream, [ev], expected=version, meta=Meta(actor="assistant")
                )
                return True
            except ConcurrencyError:
                continue
        log.warning("turn of run %s: the conversation kept changing; not ended", run_id)
        return False
