"""``runner migrate --to postgresql://…``: copy the SQLite log to PostgreSQL, verified both sides.

The rows move verbatim (positions, versions, timestamps, the exact payload bytes, their plain
hashes and keyed MACs, the digests of erased rows and the chain's bookkeeping), so the chains
that verify on SQLite verify on PostgreSQL with the same ``chain.key``. The source is checked
first (``runner audit``'s chain check); the copy streams it in one read snapshot into ``COPY``
inside one transaction that holds the store's write lock, so a broken source, a non-empty
target or any error leaves the target untouched. Then what PostgreSQL returns is written into a
scratch SQLite file and checked by the very same code. Views are not copied: they are folds of
the log and are rebuilt from it.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from events.chain import ChainKey
from events.postgres_schema import (
    EVENT_COLUMNS,
    WRITE_LOCK_KEY,
    connect,
    describe_url,
    ensure_schema,
)
from events.sqlite_schema import connect as sqlite_connect
from events.sqlite_schema import ensure_schema as sqlite_ensure_schema
from projections.rebuild import AuditReport, verify_chain
from runner.errors import CommandError

Progress = Callable[[int, int], None]
PAGE = 5000
COLUMNS = f"{EVENT_COLUMNS}, mac"
#: ``store_info`` keys that belong to the log's chains (not to one database file).
CHAIN_INFO = ("v2_from", "chain_key_id")


class MigrationReport(msgspec.Struct, kw_only=True):
    """What was copied and what each side's chain check found."""

    events: int
    head_hash: str
    source: AuditReport
    target: AuditReport
    seconds: float

    @property
    def ok(self) -> bool:
        return self.source.ok and self.target.ok and self.source.events == self.target.events


def _sqlite_rows(conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    after = 0
    while True:
        page = conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (after, PAGE),
        ).fetchall()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1][0]


def _pg_rows(conn: psycopg.Connection[Any]) -> Iterator[tuple[Any, ...]]:
    after = 0
    while True:
        page = conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
            (after, PAGE),
        ).fetchall()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1][0]


def _verify_copy(pg: psycopg.Connection[Any], key: ChainKey | None, scratch: Path) -> AuditReport:
    """Check what PostgreSQL holds with the same code that checks SQLite (``runner audit``)."""
    conn = sqlite_connect(scratch)
    try:
        sqlite_ensure_schema(conn)
        conn.execute("BEGIN")
        conn.execute("DELETE FROM store_info WHERE key IN ('v2_from', 'chain_key_id')")
        for k, v in pg.execute("SELECT key, value FROM store_info").fetchall():
            if k in CHAIN_INFO:
                conn.execute("INSERT INTO store_info(key, value) VALUES (?, ?)", (k, v))
        conn.executemany(
            "INSERT INTO erased(position, digest) VALUES (?, ?)",
            pg.execute("SELECT position, digest FROM erased").fetchall(),
        )
        marks = ",".join("?" * 9)
        conn.executemany(
            f"INSERT INTO events ({COLUMNS}) VALUES ({marks})",
            ((*r[:4], bytes(r[4]), bytes(r[5]), *r[6:]) for r in _pg_rows(pg)),
        )
        conn.execute("COMMIT")
        return verify_chain(conn, key)
    finally:
        conn.close()


def migrate_to_postgres(
    sqlite_path: Path,
    url: str,
    *,
    key: ChainKey | None = None,
    progress: Progress | None = None,
) -> MigrationReport:
    """Copy every event of ``sqlite_path`` into the empty PostgreSQL log at ``url``.

    ``key`` is the log's ``chain.key`` (checks the keyed chain on both sides). Raises
    ``CommandError`` (nothing written) when the source is missing or does not verify, or the
    target already holds events; ``StoreUnavailableError`` when the target cannot be reached.
    """
    if not sqlite_path.exists():
        raise CommandError(f"there is no event log at {sqlite_path} (check RUNNER_DATA_DIR)")
    started = time.perf_counter()
    src = sqlite_connect(sqlite_path, readonly=True)
    pg = connect(url)
    try:
        src.execute("BEGIN")  # one read snapshot: a service still writing cannot tear the copy
        source = verify_chain(src, key)
        if not source.ok:
            first = source.issues[0]
            raise CommandError(
                f"the SQLite log does not verify ({len(source.issues)} issues, first at "
                f"position {first.position}: {first.detail}); nothing was copied"
            )
        ensure_schema(pg)
        with pg.transaction():
            pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            present = pg.execute("SELECT count(*) FROM events").fetchone()
            if present is not None and present[0]:
                raise CommandError(
                    f"{describe_url(url)} already holds {present[0]} events; migrate into an "
                    "empty database"
                )
            for k in CHAIN_INFO:
                row = src.execute("SELECT value FROM store_info WHERE key = ?", (k,)).fetchone()
                if row is not None:
                    pg.execute(
                        "INSERT INTO store_info(key, value) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        (k, row[0]),
                    )
            with pg.cursor() as cur:
                cur.executemany(
                    "INSERT INTO erased(position, digest) VALUES (%s, %s)",
                    src.execute("SELECT position, digest FROM erased").fetchall(),
                )
                with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as cp:
                    for n, row in enumerate(_sqlite_rows(src), 1):
                        cp.write_row(row)
                        if progress is not None and n % PAGE == 0:
                            progress(n, source.events)
        if progress is not None:
            progress(source.events, source.events)
        src.execute("COMMIT")
        with tempfile.TemporaryDirectory(prefix="runner-migrate-") as tmp:
            target = _verify_copy(pg, key, Path(tmp) / "check.db")
        last = pg.execute("SELECT hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"cannot read the SQLite log {sqlite_path}: {exc}") from None
    finally:
        src.close()
        pg.close()
    return MigrationReport(
        events=source.events,
        head_hash=last[0] if last else "",
        source=source,
        target=target,
        seconds=time.perf_counter() - started,
    )
