"""``EventStore`` on one SQLite file: WAL, group commit, projections in the same transaction.

Readers use aiosqlite. The journal (the writer) runs each batch as one call on a worker thread,
so a whole group commit costs one thread hop rather than one per statement. Other processes on the
same file are noticed through ``PRAGMA data_version`` and their events published here too.
The group commit itself lives in ``events.group_commit``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
from anyio.abc import TaskGroup

from events.codec import decode_row
from events.envelope import AppendRequest, Recorded
from events.errors import StoreClosedError, StoreError
from events.group_commit import GroupCommitStore
from events.sqlite_journal import BatchResult, Journal, NullProjector, Projector
from events.sqlite_schema import EVENT_COLUMNS, connect, ensure_schema
from events.store import Subscription
from events.subscription import CatchUpSubscription

PAGE = 1000


class SQLiteEventStore(GroupCommitStore):
    """The embedded event store. Open it with ``async with SQLiteEventStore.open(path)``."""

    def __init__(self, path: Path, projector: Projector, tail_interval: float) -> None:
        super().__init__()
        self.path = path
        self.projector = projector
        self._tail_interval = tail_interval
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
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def init() -> Journal:
            conn = connect(self.path)
            try:
                ensure_schema(conn)
                return Journal(conn, self.projector)
            except BaseException:
                conn.close()
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
        self._fail_waiting()
        with anyio.CancelScope(shield=True):
            await self._reader.close()
            await self._tailer.close()
            await self._views.close()
            await anyio.to_thread.run_sync(self._journal.conn.close, limiter=self._limiter)

    # -- writing ---------------------------------------------------------------------------

    def _commit_batch(self, units: Sequence[Sequence[AppendRequest]]) -> BatchResult:
        return self._journal.commit_batch(units)

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
