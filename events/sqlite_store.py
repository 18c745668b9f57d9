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

from events import file_modes
from events.backend import Backend, SideConnection
from events.chain import (
    KEY_FILE,
    ChainKey,
    ChainState,
    info,
    load_key,
    set_info,
    verify_since_checkpoint,
    write_checkpoint,
)
from events.codec import decode_row
from events.envelope import AppendRequest, Recorded
from events.errors import NoSuchView, StoreClosedError, StoreError
from events.group_commit import GroupCommitStore
from events.sqlite_journal import BatchResult, Journal
from events.sqlite_schema import EVENT_COLUMNS, connect, ensure_schema, rollback_quietly
from events.sqlite_views import DIALECT, SQLiteSideConnection, sql_of
from events.storage_faults import classify, classify_at
from events.store import Subscription
from events.subscription import CatchUpSubscription
from events.views import NullProjector, Projector, Query, Row

PAGE = 1000


class SQLiteEventStore(GroupCommitStore, Backend):
    """The embedded event store. Open it with ``async with SQLiteEventStore.open(path)``."""

    def __init__(
        self, path: Path, projector: Projector, tail_interval: float, key_path: Path | None = None
    ) -> None:
        super().__init__()
        self.path = path
        self.key_path = key_path or path.parent / KEY_FILE
        #: The chain as verified at open; ``ok`` False means appends are refused.
        self.chain = ChainState()
        self.projector = projector
        self._tail_interval = tail_interval
        self._journal: Journal
        self._reader: aiosqlite.Connection
        self._tailer: aiosqlite.Connection
        self._views: aiosqlite.Connection
        self.instance = f"{os.getpid()}"
        self.location = str(path)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path,
        *,
        projector: Projector | None = None,
        tail_interval: float = 0.02,
        key_path: Path | None = None,
    ) -> AsyncIterator[SQLiteEventStore]:
        """Open (creating if needed) the log at ``path`` and run its writer and tailer.

        The chain is verified from its last checkpoint (``events.chain``); a broken chain opens
        the store read-only (``chain.ok`` False, appends raise ``ChainBrokenError``).
        """
        store = cls(Path(path), projector or NullProjector(), tail_interval, key_path)
        async with store._running():
            yield store

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
                key = self._chain_key(conn)
                journal = Journal(conn, self.projector, key)
                journal.refusal = None if self.chain.ok else self.chain.detail
                return journal
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

    def _chain_key(self, conn: sqlite3.Connection) -> ChainKey | None:
        """Load (or create) the chain key and verify the chain since the last checkpoint."""
        recorded = info(conn, "chain_key_id")
        key = load_key(self.key_path, create=recorded is None)
        if key is None:
            self.chain = ChainState(
                ok=False,
                position=int(info(conn, "v2_from") or 1),
                detail=f"the chain key {self.key_path} is missing (this log was keyed with id "
                f"{recorded}): restore it from your backup; appending is refused until then",
            )
            return None
        state, res = verify_since_checkpoint(conn, key)
        self.chain = state
        if state.ok and (recorded is None or res.checked):
            # Recording the key id and moving the checkpoint only saves work later: never wait
            # for another process's write lock for it (a read-only command must open at once);
            # the next open or the running service's chain watch records it instead.
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                return key
            finally:
                conn.execute("PRAGMA busy_timeout = 10000")
            try:
                set_info(conn, "chain_key_id", key.key_id)
                if res.checked:
                    write_checkpoint(conn, key, res.last_position, res.last_hash, res.last_mac)
                conn.execute("COMMIT")
            except sqlite3.OperationalError:
                # Disk full, I/O error...: skip it (SQLite may have rolled back already); the
                # open goes on and a real write meets, and reports, the same fault.
                rollback_quietly(conn)
        return key

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

    async def accept_chain_break(self, by: str, reason: str) -> list[Recorded]:
        """Record that ``by`` accepts the broken chain (``ChainBreakAccepted``); appends resume."""
        from events.sqlite_maintenance import accept_break

        records = await self._maintain(accept_break, by, reason)
        self.chain = ChainState(key_id=self.chain.key_id, keyed_from=self.chain.keyed_from)
        return records

    async def erase_run(
        self, run_id: str, *, by: str, reason: str, policy: str | None = None
    ) -> list[Recorded]:
        """Erase a run's output and its webhook body, keeping the chain verifiable."""
        from events.sqlite_maintenance import erase_run

        return await self._maintain(erase_run, run_id, by, reason, policy)

    async def verify_chain(self) -> ChainState:
        """Check both chains since the checkpoint while the service runs (on a reader thread,
        appends go on); move the checkpoint, or turn read-only on a break."""
        key = self._journal.key
        if key is None or not self.chain.ok:
            return self.chain

        def check() -> tuple[ChainState, Any]:
            conn = connect(self.path, readonly=True)
            try:
                return verify_since_checkpoint(conn, key)
            finally:
                conn.close()

        state, res = await anyio.to_thread.run_sync(check)
        if not state.ok:
            self.chain = state
            self._journal.refusal = state.detail
        elif res.checked:

            def move() -> None:
                conn = self._journal.conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    write_checkpoint(conn, key, res.last_position, res.last_hash, res.last_mac)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback_quietly(conn)
                    raise

            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(move, limiter=self._limiter)
        return state

    async def _maintain(self, fn: Any, *args: Any) -> list[Recorded]:
        self._check_open()
        with anyio.CancelScope(shield=True):
            records: list[Recorded] = await anyio.to_thread.run_sync(
                fn, self._journal, *args, limiter=self._limiter
            )
        self._publish(records)
        return records

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

    async def _read_page_upto(self, after: int, limit: int, upto: int | None) -> list[Recorded]:
        self._check_open()
        return await self._read_page_with(self._reader, after, limit, upto)

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

    dialect = DIALECT

    async def fetch(self, query: Query, params: Sequence[Any] = ()) -> list[Row]:
        self._check_open()
        try:
            rows = await self._views.execute_fetchall(sql_of(query), tuple(params))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise NoSuchView(f"{query.name}: {exc}") from None
            raise
        return [tuple(r) for r in rows]

    def side_connection(self) -> SideConnection:
        return SQLiteSideConnection(self.path)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Raw read-only SQL over this file (tests and SQLite tools; callers use ``fetch``)."""
        self._check_open()
        return list(await self._views.execute_fetchall(sql, tuple(params)))
