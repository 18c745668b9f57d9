"""Bulk cancel: every queued (and optionally running) run of a job, a webhook or a filter.

A delivery flood or a runaway schedule can queue thousands of runs; cancelling them one by one
is not an answer. Queued runs are cancelled against their stream version (a run claimed
meanwhile is decided again, one by one); running runs get a ``RunCancelRequested`` that their
executor acts on. The appends go out concurrently, so the journal commits them in a few
group-commit batches.
"""

from __future__ import annotations

import anyio
import msgspec

from events.backend import Backend
from events.envelope import AppendRequest, Meta
from events.errors import ConcurrencyError
from events.ids import run_stream
from events.runs import RunCancelled, RunCancelRequested
from projections import RunView
from projections.queries import runs as run_queries
from projections.queries.runs import RunWhere
from runner.commands.runs import RunCommands
from runner.errors import Conflict, InvalidInput
from runner.queries import Queries

#: Appends in flight at once (each waits for its group commit).
PARALLEL = 256
MAX_RUNS = 100_000
TRIGGERS = ("schedule", "manual", "webhook", "retry", "quick", "mcp", "catch_up", "assistant")


class CancelFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which runs to cancel; at least one of job, webhook or trigger must narrow it."""

    job_id: str | None = None
    webhook_id: str | None = None
    trigger: str | None = None
    include_running: bool = False
    everything: bool = False
    """Allow a filter that names neither job, webhook nor trigger (every queued run)."""


class CancelResult(msgspec.Struct, frozen=True, kw_only=True):
    matched: int
    cancelled: int
    cancel_requested: int
    skipped: int


class BulkCancel:
    def __init__(self, store: Backend, queries: Queries) -> None:
        self.store = store
        self.q = queries

    async def cancel(
        self, filt: CancelFilter, *, actor: str = "user", reason: str = ""
    ) -> CancelResult:
        """Cancel what ``filt`` selects; the counts say what happened to each run found."""
        if filt.trigger is not None and filt.trigger not in TRIGGERS:
            raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}", field="trigger")
        if not (filt.job_id or filt.webhook_id or filt.trigger or filt.everything):
            raise InvalidInput(
                "name a job, a webhook or a trigger to cancel by "
                "(or ask for every queued run explicitly with all=true)",
                field="job_id",
            )
        if filt.job_id:
            await self.q.job(filt.job_id)  # NotFound names the id
        runs = await self._select(filt)
        why = reason or f"bulk cancel by {actor}"
        counts = {"cancelled": 0, "cancel_requested": 0, "skipped": 0}
        limiter = anyio.CapacityLimiter(PARALLEL)

        async def one(run: RunView) -> None:
            async with limiter:
                counts[await self._cancel_one(run, actor, why)] += 1

        async with anyio.create_task_group() as tg:
            for run in runs:
                tg.start_soon(one, run)
        return CancelResult(matched=len(runs), **counts)

    async def _select(self, filt: CancelFilter) -> list[RunView]:
        states = ("requested", "claimed", "running") if filt.include_running else ("requested",)
        where = RunWhere(states=states, job_id=filt.job_id, webhook_id=filt.webhook_id,
                         trigger=filt.trigger)  # fmt: skip
        rows = await self.store.fetch(*run_queries.oldest(where, MAX_RUNS))
        decoder = msgspec.json.Decoder(RunView)
        return [decoder.decode(r[0]) for r in rows]

    async def _cancel_one(self, run: RunView, actor: str, why: str) -> str:
        meta = Meta(actor=actor)
        if run.state == "requested":
            req = AppendRequest(
                stream=run_stream(run.run_id),
                events=(
                    RunCancelRequested(run_id=run.run_id, by=actor, reason=why),
                    RunCancelled(run_id=run.run_id, reason=why),
                ),
                expected=run.version,
                meta=meta,
            )
            try:
                await self.store.append_atomic([req])
                return "cancelled"
            except ConcurrencyError:
                pass  # claimed or changed meanwhile: decide again with a fresh read
        if run.cancel_requested:
            return "skipped"
        try:
            fresh = await self._fresh_cancel(run.run_id, actor, why)
        except Conflict:
            return "skipped"  # finished meanwhile
        return "cancelled" if fresh.state == "cancelled" else "cancel_requested"

    async def _fresh_cancel(self, run_id: str, actor: str, why: str) -> RunView:
        return await RunCommands(self.store, self.q).cancel(run_id, actor=actor, reason=why)
