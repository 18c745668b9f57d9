"""The executor pool: runs claimed runs, each in its own cancel scope, and cancels on request.

A ``RunCancelRequested`` for a run executing here cancels that run's scope; the executor then
interrupts and disconnects the CLI (shielded) and records ``RunCancelled``. Shutting the pool
down cancels every running run the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from events.backend import Backend
from events.envelope import Meta
from events.ids import run_stream
from events.runs import RunCrashed
from projections.runs import RunView

log = logging.getLogger("runner.pool")
Execute = Callable[[RunView], Awaitable[None]]


class ExecutorPool:
    """Owns the cancel scopes of the runs executing in this process."""

    def __init__(
        self,
        store: Backend,
        execute: Execute,
        claimed: MemoryObjectReceiveStream[RunView],
        *,
        on_cancel: Callable[[str, str], None] | None = None,
    ) -> None:
        self.on_cancel = on_cancel
        self.store = store
        self.execute = execute
        self.claimed = claimed
        self.scopes: dict[str, anyio.CancelScope] = {}

    @property
    def running(self) -> list[str]:
        return sorted(self.scopes)

    async def run(self) -> None:
        head = await self.store.head()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_cancels, head)
            async for run in self.claimed:
                scope = anyio.CancelScope()
                self.scopes[run.run_id] = scope
                tg.start_soon(self._run_one, run, scope, name=f"run:{run.run_id}")

    async def _run_one(self, run: RunView, scope: anyio.CancelScope) -> None:
        try:
            with scope:
                await self.execute(run)
        except Exception as exc:
            log.exception("executor failed on run %s", run.run_id)
            with anyio.CancelScope(shield=True):
                await self.store.append(
                    run_stream(run.run_id),
                    [RunCrashed(run_id=run.run_id, detail=f"executor error: {exc!r}"[:2000])],
                    meta=Meta(actor="pool"),
                )
        finally:
            self.scopes.pop(run.run_id, None)

    async def _watch_cancels(self, head: int) -> None:
        async with self.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                if rec.type == "RunCancelRequested":
                    run_id = rec.stream.removeprefix("run-")
                    scope = self.scopes.get(run_id)
                    if scope is not None:
                        if self.on_cancel is not None:
                            reason = getattr(rec.event, "reason", "") or "cancelled by user"
                            self.on_cancel(run_id, reason)
                        scope.cancel()

    def note_shutdown(self, reason: str) -> None:
        """Record why every run executing here is about to be cancelled (service shutdown)."""
        if self.on_cancel is not None:
            for run_id in list(self.scopes):
                self.on_cancel(run_id, reason)

    def cancel_all(self, reason: str) -> None:
        """Cancel every run executing here, saying why."""
        self.note_shutdown(reason)
        for scope in list(self.scopes.values()):
            scope.cancel()
