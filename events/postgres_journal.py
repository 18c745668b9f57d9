"""The journal on PostgreSQL: the SQLite journal's batch logic with PostgreSQL's lock and SQL.

One writer per database at a time, across every node: each batch takes
``pg_advisory_xact_lock`` at READ COMMITTED, so every statement after it sees the previous
holder's rows. The head is re-read under the lock (the absorb-foreign step folds what other
nodes committed), positions are head+1, head+2, … and the hash chain continues from the head:
positions are gap-free and in commit order. The last statement announces the new head with
``pg_notify`` (delivered only if the batch commits, in commit order); listeners treat it as a
wake-up and read the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus

from events.chain import ChainKey
from events.envelope import AppendRequest
from events.postgres_schema import (
    CHANNEL,
    EVENT_COLUMNS,
    WRITE_LOCK_KEY,
    DatabaseUnreachable,
    StoreUnavailableError,
    connect,
    describe_url,
    ensure_schema,
)
from events.postgres_views import PostgresViewWriter
from events.sqlite_journal import BatchResult, Journal, Row
from events.views import Projector, ViewWriter

#: How long a batch waits for another node's batch before it fails (then the caller retries).
LOCK_TIMEOUT = "10s"


class PostgresJournal(Journal):
    """Synchronous writer over a psycopg connection (autocommit; explicit transactions)."""

    SQL_MAX_VERSION = "SELECT max(version) FROM events WHERE stream = %s"
    SQL_SINCE = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position"
    SQL_INSERT = f"INSERT INTO events ({EVENT_COLUMNS}, mac) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
    SQL_MAC_AT = "SELECT mac FROM events WHERE position = %s"

    def __init__(self, url: str, projector: Projector, key: ChainKey | None = None) -> None:
        self.url = url
        self.pg = connect(url)
        try:
            ensure_schema(self.pg)
            # The base class speaks the DB-API subset both drivers share (execute → cursor).
            super().__init__(self.pg, projector, key)  # type: ignore[arg-type]
        except BaseException:
            self.pg.close()
            raise

    def commit_batch(self, batch: Sequence[Sequence[AppendRequest]]) -> BatchResult:
        if self.pg.closed or self.pg.info.transaction_status == TransactionStatus.UNKNOWN:
            # The server restarted or the network dropped: a new session. The caches stay
            # valid: the absorb step re-reads the head under the lock.
            self.pg.close()
            try:
                self.pg = self.conn = connect(self.url)  # type: ignore[assignment]
            except StoreUnavailableError as exc:
                raise DatabaseUnreachable(str(exc)) from None
            self.views = self._view_writer()
        try:
            return super().commit_batch(batch)
        except psycopg.errors.LockNotAvailable:
            raise DatabaseUnreachable(
                f"another node held the log's write lock for {LOCK_TIMEOUT}",
                cause="locked",
                retry_after=2,
            ) from None
        except psycopg.OperationalError as exc:
            raise DatabaseUnreachable(
                f"appending to the PostgreSQL log at {describe_url(self.url)} failed: "
                f"{' '.join(str(exc).split())}"
            ) from None

    def _view_writer(self) -> ViewWriter:
        return PostgresViewWriter(self.pg)

    def _is_busy(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.OperationalError)

    def _begin_write(self) -> None:
        self.pg.execute("BEGIN")
        self.pg.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        self.pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))

    def _info(self, key: str) -> str | None:
        row = self.pg.execute("SELECT value FROM store_info WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _insert(self, rows: list[Row]) -> None:
        with self.pg.cursor() as cur:
            cur.executemany(self.SQL_INSERT, rows)

    def _before_commit(self, head: int) -> None:
        self.pg.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(head)))
