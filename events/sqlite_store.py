"""``EventStore`` on one SQLite file: WAL, group commit, projections in the same transaction.

Readers use aiosqlite. The journal (the writer) runs each batch as one call on a worker thread,
so a whole group commit costs one thread hop rather than one per statement. Appenders join the
open batch and all wait on its single event (no per-append event or channel: with hundreds of
concurrent appenders that overhead was a quarter of the throughput). Other processes on the
same file are noticed through ``PRAGMA data_version`` and their events published here too.
"""

from __future__ import annotations

import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
from anyio.abc import TaskGroup

from events import file_modes
from events.bus import Bus
from events.codec import decode_row
from events.envelope import AppendRequest, AppendResult, Recorded
from events.errors import StoreClosedError, StoreError
from events.sqlite_journal import Journal, NullProjector, Outcome, Projector
from events.sqlite_schema import EVENT_COLUMNS, connect, ensure_schema
from events.storage_faults import classify, classify_at
from events.store import EventStore, Subscription
from events.subscription import CatchUpSubscription

MAX_BATCH_UNITS = 2000
PAGE = 1000


class _Batch:
    """Units that commit in one transaction; their appenders all wait on one event."""

    __slots__ = ("done", "outcomes", "units")

    def __init__(self) -> None:
        self.units: list[Sequence[AppendRequest]] = []
        self.outcomes: list[Outcome] = []
        self.done = anyio.Event()


class SQLiteEventStore(EventStore):
    """The embedded event store. Open it with ``async with SQLiteEventStore.open(path)``."""

    def __init__(self, path: Path, projector: Projector, tail_interval: float) -> None:
        self.path = path
        self.projector = projector
        self.bus = Bus()
        self._tail_interval = tail_interval
        self._last_published = 0
        self._closed = False
        self._limiter = anyio.CapacityLimiter(1)
        # Batches waiting for the writer, oldest first; appenders join the newest one.
        self._queue: deque[_Batch] = deque()
        self._open_batch: _Batch | None = None
        self._wake = anyio.Event()
        self._journal: Journal
        self._reader: aiosqlite.Connection
        self._tailer: aiosqlite.Connection
        self._views: aiosqlite.Connection
        self.instance = f"{os.getpid()}"

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path,
        *,
        projector: Projector | None = None,
        tail_interval: float = 0.02,
    ) -> AsyncIterator[SQLiteEventStore]:
        """Open (creating if needed) the log at ``path`` and run its writer and tailer."""
        store = cls(Path(path), projector or NullProjector(), tail_interval)
        await store._start()
        try:
            async with anyio.create_task_group() as tg:
                store._spawn(tg)
                try:
                    yield store
                finally:
                    store._closed = True
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's own error surfaces as itself, not wrapped by our task group.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            await store._shutdown()

    async def _start(self) -> None:
        try:
            file_modes.secure(self.path)
        except OSError as exc:
            raise classify(exc) or exc

        def init() -> Journal:
            try:
                conn = connect(self.path)
            except sqlite3.Error as exc:
                raise classify_at(exc, self.path.parent) or exc
            try:
                ensure_schema(conn)
                return Journal(conn, self.projector)
            except BaseException as exc:
                conn.close()
                fault = classify_at(exc, self.path.parent)
                if fault is not None and fault is not exc:
                    raise fault from exc
                raise

        self._journal = await anyio.to_thread.run_sync(init)
        self._last_published = self._journal.head
        self._reader = await aiosqlite.connect(str(self.path), isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout = 10000")
        self._tailer = await aiosqlite.connect(str(self.path), isolation_level=None)
        await self._tailer.execute("PRAGMA busy_timeout = 10000")
        self._views = await aiosqlite.connect(str(self.path), isolation_level=None)
        self._views.row_factory = sqlite3.Row
        await self._views.execute("PRAGMA busy_timeout = 10000")

    def _spawn(self, tg: TaskGroup) -> None:
        tg.start_soon(self._write_loop)
        tg.start_soon(self._tail_loop)

    async def _shutdown(self) -> None:
        self._closed = True
        self.bus.close()
        self._open_batch = None
        while self._queue:
            batch = self._queue.popleft()
            error = StoreClosedError("the event store closed before this append ran")
            batch.outcomes = [error] * len(batch.units)
            batch.done.set()
        with anyio.CancelScope(shield=True):
            await self._reader.close()
            await self._tailer.close()
            await self._views.close()
            await anyio.to_thread.run_sync(self._journal.conn.close, limiter=self._limiter)

    # -- writing ---------------------------------------------------------------------------

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
                        self._journal.commit_batch, batch.units, limiter=self._limiter
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

    async def _tail_loop(self) -> None:
        seen: int | None = None
        while True:
            await anyio.sleep(self._tail_interval)
            rows = await self._tailer.execute_fetchall("PRAGMA data_version")
            version = next(iter(rows))[0]
            if version == seen:
                continue
            seen = version
            try:
                while True:
                    page = await self._read_page_with(self._tailer, self._last_published, PAGE)
                    self._publish(page)
                    if len(page) < PAGE:
                        break
            except StoreError:
                # Another process wrote a row this code cannot read. Crashing here would take
                # the whole store down; skipping it would leave a gap. Instead every live
                # subscriber is sent back to storage, where it meets the typed error itself.
                self.bus.cut_all()

    # -- reading ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the event store is closed")

    async def _read_page_with(
        self, conn: aiosqlite.Connection, after: int, limit: int, upto: int | None = None
    ) -> list[Recorded]:
        if upto is None:
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
            params: tuple[int, ...] = (after, limit)
        else:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ? "
                "ORDER BY position LIMIT ?"
            )
            params = (after, upto, limit)
        rows = await conn.execute_fetchall(sql, params)
        return [decode_row(tuple(r)) for r in rows]

    async def _read_page(self, after: int, limit: int) -> list[Recorded]:
        self._check_open()
        return await self._read_page_with(self._reader, after, limit)

    async def read_stream(self, stream: str, *, from_version: int = 0) -> list[Recorded]:
        self._check_open()
        rows = await self._reader.execute_fetchall(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND version >= ? "
            "ORDER BY version",
            (stream, from_version),
        )
        return [decode_row(tuple(r)) for r in rows]

    async def read_all(
        self, *, from_position: int = 0, to_position: int | None = None
    ) -> AsyncIterator[Recorded]:
        after = from_position
        while True:
            self._check_open()
            page = await self._read_page_with(self._reader, after, PAGE, to_position)
            for rec in page:
                yield rec
            if len(page) < PAGE:
                return
            after = page[-1].position

    async def stream_version(self, stream: str) -> int:
        self._check_open()
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT max(version) FROM events WHERE stream = ?", (stream,)
            )
        )
        value = rows[0][0]
        return -1 if value is None else int(value)

    async def head(self) -> int:
        self._check_open()
        rows = list(await self._reader.execute_fetchall("SELECT max(position) FROM events"))
        return int(rows[0][0] or 0)

    def subscribe(self, *, from_position: int = 0) -> Subscription:
        return CatchUpSubscription(self.bus, self._read_page, from_position, page=PAGE)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Read-only SQL over the log and the view tables."""
        self._check_open()
        return list(await self._views.execute_fetchall(sql, tuple(params)))
