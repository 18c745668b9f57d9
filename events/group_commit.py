"""Group commit: appenders waiting at the same moment share one transaction.

Backend-neutral. A store subclasses ``GroupCommitStore`` and gives it ``_commit_batch``, the
synchronous batch commit of its journal, which runs on a worker thread (one thread hop per batch,
not per statement). Appenders join the open batch and all wait on its single event (no
per-append event or channel: with hundreds of concurrent appenders that overhead was a quarter
of the throughput). Each appender still gets its own result or error.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

from events.bus import Bus
from events.envelope import AppendRequest, AppendResult, Recorded
from events.errors import StoreClosedError
from events.sqlite_journal import BatchResult, Outcome
from events.store import EventStore

MAX_BATCH_UNITS = 2000
#: Events per page of ``read_all``.
READ_PAGE = 1000


class _Batch:
    """Units that commit in one transaction; their appenders all wait on one event."""

    __slots__ = ("done", "outcomes", "units")

    def __init__(self) -> None:
        self.units: list[Sequence[AppendRequest]] = []
        self.outcomes: list[Outcome] = []
        self.done = anyio.Event()


class GroupCommitStore(EventStore):
    """The write path and bus publishing shared by every backend."""

    def __init__(self) -> None:
        self.bus = Bus()
        self._last_published = 0
        self._closed = False
        self._limiter = anyio.CapacityLimiter(1)
        # Batches waiting for the writer, oldest first; appenders join the newest one.
        self._queue: deque[_Batch] = deque()
        self._open_batch: _Batch | None = None
        self._wake = anyio.Event()

    @abc.abstractmethod
    async def _start(self) -> None:
        """Open connections and the journal (before any task runs)."""

    @abc.abstractmethod
    def _spawn(self, tg: TaskGroup) -> None:
        """Start the store's tasks (writer, tailer) in ``tg``."""

    @abc.abstractmethod
    async def _shutdown(self) -> None:
        """Fail waiting appends and close every connection."""

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Start, run the tasks while the caller works, then close; the caller's own error
        surfaces as itself, not wrapped by the task group."""
        await self._start()
        try:
            async with anyio.create_task_group() as tg:
                self._spawn(tg)
                try:
                    yield
                finally:
                    self._closed = True
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            await self._shutdown()

    @abc.abstractmethod
    async def _read_page_upto(self, after: int, limit: int, upto: int | None) -> list[Recorded]:
        """Up to ``limit`` events with ``after < position <= upto``, in order."""

    async def read_all(
        self, *, from_position: int = 0, to_position: int | None = None
    ) -> AsyncIterator[Recorded]:
        after = from_position
        while True:
            page = await self._read_page_upto(after, READ_PAGE, to_position)
            for rec in page:
                yield rec
            if len(page) < READ_PAGE:
                return
            after = page[-1].position

    @abc.abstractmethod
    def _commit_batch(self, units: Sequence[Sequence[AppendRequest]]) -> BatchResult:
        """Commit ``units`` (each all-or-nothing) on a worker thread; outcomes + records."""

    def _fail_waiting(self) -> None:
        """Closing: every append still queued gets ``StoreClosedError``."""
        self._closed = True
        self.bus.close()
        self._open_batch = None
        while self._queue:
            batch = self._queue.popleft()
            error = StoreClosedError("the event store closed before this append ran")
            batch.outcomes = [error] * len(batch.units)
            batch.done.set()

    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        if self._closed:
            raise StoreClosedError("the event store is closed")
        batch = self._open_batch
        if batch is None or len(batch.units) >= MAX_BATCH_UNITS:
            batch = self._open_batch = _Batch()
            self._queue.append(batch)
            self._wake.set()
        index = len(batch.units)
        batch.units.append(tuple(requests))
        await batch.done.wait()
        outcome = batch.outcomes[index]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def _write_loop(self) -> None:
        while True:
            if not self._queue:
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            batch = self._queue.popleft()
            if batch is self._open_batch:
                self._open_batch = None
            try:
                with anyio.CancelScope(shield=True):
                    outcomes, records = await anyio.to_thread.run_sync(
                        self._commit_batch, batch.units, limiter=self._limiter
                    )
            except Exception as exc:
                batch.outcomes = [exc] * len(batch.units)
                batch.done.set()
                continue
            self._publish(records)
            batch.outcomes = outcomes
            batch.done.set()

    def _publish(self, records: Sequence[Recorded]) -> None:
        fresh = [r for r in records if r.position > self._last_published]
        if fresh:
            self._last_published = fresh[-1].position
            self.bus.publish(fresh)
