"""``EventStore`` on PostgreSQL: several nodes append to and tail one log.

Same guarantees as the SQLite store: ``UNIQUE(stream, version)`` optimistic concurrency, the hash
chain, projections in the append's transaction, group commit, a gap-free global order. How the
order stays gap-free under concurrent writers on several nodes: see ``events.postgres_journal``
(one writer at a time per database, positions assigned under the lock). Other nodes' commits
arrive by ``LISTEN`` (a wake-up only; the table is the feed), with a slow poll as a safety net
and a catch-up after every reconnect.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import psycopg
import psycopg.errors
from anyio.abc import TaskGroup

from events.backend import Backend, SideConnection
from events.chain import ChainKey, ChainState
from events.codec import decode_row
from events.envelope import AppendRequest, Recorded
from events.errors import NoSuchView, StoreClosedError, StoreError
from events.group_commit import GroupCommitStore
from events.postgres_chain import resolve_key
from events.postgres_journal import PostgresJournal
from events.postgres_schema import (
    CHANNEL,
    EVENT_COLUMNS,
    DatabaseUnreachable,
    StoreUnavailableError,
    connect_async,
    describe_url,
)
from events.postgres_views import DIALECT, PostgresSideConnection, plain_rows, sql_of, stored
from events.sqlite_journal import BatchResult
from events.store import Subscription
from events.subscription import CatchUpSubscription
from events.views import NullProjector, Projector, Query, Row

PAGE = 1000
#: Without a notification, look at the table anyway this often (a lost wake-up costs this much).
POLL_FALLBACK_S = 2.0


class PostgresEventStore(GroupCommitStore, Backend):
    """Open with ``async with PostgresEventStore.open("postgresql://…")``."""

    def __init__(
        self,
        url: str,
        projector: Projector,
        key: ChainKey | None,
        key_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.projector = projector
        self.key = key
        self.instance = f"{os.getpid()}"
        self.location = describe_url(url)
        self.chain = ChainState()
        self.key_path = key_path
        self._journal: PostgresJournal
        self._reader: psycopg.AsyncConnection[Any]

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        projector: Projector | None = None,
        key: ChainKey | None = None,
        key_path: Path | None = None,
    ) -> AsyncIterator[PostgresEventStore]:
        """Connect (creating the tables if needed) and run the writer and the tailer.

        An unreachable, misconfigured or too old server raises ``StoreUnavailableError`` with
        the reason, within the connect timeout: never a hang. With ``key`` every transaction's
        last row also carries the keyed (HMAC) link of ``events.chain``; with ``key_path``
        instead, the key is the log's recorded one (``events.postgres_chain``).
        """
        store = cls(url, projector or NullProjector(), key, key_path)
        async with store._running():
            yield store

    async def _start(self) -> None:
        if self.key is None and self.key_path is not None:
            self.key, self.chain = await anyio.to_thread.run_sync(
                resolve_key, self.url, self.key_path, limiter=self._limiter
            )
        self._journal = await anyio.to_thread.run_sync(
            PostgresJournal, self.url, self.projector, self.key, limiter=self._limiter
        )
        if not self.chain.ok:
            self._journal.refusal = self.chain.detail
        self._last_published = self._journal.head
        try:
            self._reader = await connect_async(self.url)
        except BaseException:
            self._journal.pg.close()
            raise

    def _spawn(self, tg: TaskGroup) -> None:
        tg.start_soon(self._write_loop)
        tg.start_soon(self._tail_loop)

    async def _shutdown(self) -> None:
        self._fail_waiting()
        with anyio.CancelScope(shield=True):
            await self._reader.close()
            await anyio.to_thread.run_sync(self._journal.pg.close, limiter=self._limiter)

    def _commit_batch(self, units: Sequence[Sequence[AppendRequest]]) -> BatchResult:
        return self._journal.commit_batch(units)

    # -- tailing other nodes ---------------------------------------------------------------

    async def _tail_loop(self) -> None:
        while True:
            try:
                listener = await connect_async(self.url)
            except StoreError:
                await anyio.sleep(POLL_FALLBACK_S)
                continue
            try:
                await listener.execute(f"LISTEN {CHANNEL}")
                await self._catch_up(listener)  # whatever committed while we were not listening
                while True:
                    async for _note in listener.notifies(timeout=POLL_FALLBACK_S, stop_after=1):
                        pass
                    await self._catch_up(listener)
            except psycopg.OperationalError:
                await anyio.sleep(0.2)  # the session broke: reconnect and catch up
            finally:
                with anyio.CancelScope(shield=True):
                    await listener.close()

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            while True:
                page = await self._read_page_with(conn, self._last_published, PAGE)
                self._publish(page)
                if len(page) < PAGE:
                    return
        except StoreError:
            # A row this code cannot read: send every subscriber back to storage, where it
            # meets the typed error itself (as the SQLite tailer does).
            self.bus.cut_all()

    # -- reading ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the event store is closed")

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run a read on the reader session, reconnecting once if the server dropped it."""
        self._check_open()
        for attempt in (1, 2):
            try:
                if self._reader.closed:
                    self._reader = await connect_async(self.url)
                cur = await self._reader.execute(sql, params)
                return await cur.fetchall()
            except psycopg.OperationalError as exc:
                if attempt == 2 or not self._reader.closed:
                    raise DatabaseUnreachable(
                        f"reading the PostgreSQL log at {self.location} failed: "
                        f"{' '.join(str(exc).split())}"
                    ) from None
            except StoreUnavailableError as exc:  # the reconnect failed
                raise DatabaseUnreachable(str(exc)) from None
        raise AssertionError("unreachable")

    async def _read_page_with(
        self,
        conn: psycopg.AsyncConnection[Any] | None,
        after: int,
        limit: int,
        upto: int | None = None,
    ) -> list[Recorded]:
        if upto is None:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s"
            )
            params: tuple[int, ...] = (after, limit)
        else:
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s AND position <= %s "
                "ORDER BY position LIMIT %s"
            )
            params = (after, upto, limit)
        if conn is None:
            rows = await self._fetch(sql, params)
        else:
            cur = await conn.execute(sql, params)
            rows = await cur.fetchall()
        return [decode_row(tuple(r)) for r in rows]

    async def _read_page(self, after: int, limit: int) -> list[Recorded]:
        return await self._read_page_with(None, after, limit)

    async def read_stream(self, stream: str, *, from_version: int = 0) -> list[Recorded]:
        rows = await self._fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = %s AND version >= %s "
            "ORDER BY version",
            (stream, from_version),
        )
        return [decode_row(tuple(r)) for r in rows]

    async def _read_page_upto(self, after: int, limit: int, upto: int | None) -> list[Recorded]:
        return await self._read_page_with(None, after, limit, upto)

    async def stream_version(self, stream: str) -> int:
        rows = await self._fetch("SELECT max(version) FROM events WHERE stream = %s", (stream,))
        return -1 if not rows or rows[0][0] is None else int(rows[0][0])

    async def head(self) -> int:
        rows = await self._fetch("SELECT max(position) FROM events", ())
        return 0 if not rows or rows[0][0] is None else int(rows[0][0])

    def subscribe(self, *, from_position: int = 0) -> Subscription:
        return CatchUpSubscription(self.bus, self._read_page, from_position, page=PAGE)

    # -- views -----------------------------------------------------------------------------

    dialect = DIALECT

    async def fetch(self, query: Query, params: Sequence[Any] = ()) -> list[Row]:
        try:
            rows = await self._fetch(sql_of(query), tuple(stored(v) for v in params))
        except psycopg.errors.UndefinedTable as exc:
            raise NoSuchView(f"{query.name}: {' '.join(str(exc).split())}") from None
        return plain_rows(rows)

    def side_connection(self) -> SideConnection:
        return PostgresSideConnection(self.url)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Raw read-only SQL in PostgreSQL's dialect (``%s`` placeholders; tests, tools)."""
        return plain_rows(await self._fetch(sql, tuple(params)))
