"""``runner migrate --to postgresql://…``: copy the SQLite log to PostgreSQL, verified both sides.

The rows move verbatim (positions, versions, timestamps, the exact payload bytes and their
hashes), so the chain that verified on SQLite verifies on PostgreSQL. One pass reads the source
in a single read snapshot, checks its chain as it goes and streams the rows into ``COPY`` inside
one transaction that holds the store's write lock: a broken source, a non-empty target or any
error leaves the target untouched. The target's chain is then recomputed from what PostgreSQL
returns. Views are not copied: they are folds of the log and are rebuilt from it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from events.postgres_schema import (
    EVENT_COLUMNS,
    WRITE_LOCK_KEY,
    connect,
    describe_url,
    ensure_schema,
)
from events.sqlite_schema import connect as sqlite_connect
from projections.rebuild import AuditReport, iter_rows, verify_rows
from runner.errors import CommandError

Progress = Callable[[int, int], None]
PAGE = 5000


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


def _tee(rows: Iterable[tuple[Any, ...]], sink: Callable[[tuple[Any, ...]], None],
         progress: Progress | None, total: int) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    for n, row in enumerate(rows, 1):
        sink(row)
        if progress is not None and (n % PAGE == 0 or n == total):
            progress(n, total)
        yield row


def _pg_rows(conn: psycopg.Connection[Any]) -> Iterator[tuple[Any, ...]]:
    after = 0
    while True:
        page = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
            (after, PAGE),
        ).fetchall()
        yield from (tuple(r) for r in page)
        if len(page) < PAGE:
            return
        after = page[-1][0]


def migrate_to_postgres(
    sqlite_path: Path, url: str, *, progress: Progress | None = None
) -> MigrationReport:
    """Copy every event of ``sqlite_path`` into the empty PostgreSQL log at ``url``.

    Raises ``CommandError`` (nothing written) when the source is missing or its chain is
    broken, or the target already holds events; ``StoreUnavailableError`` when the target
    cannot be reached.
    """
    if not sqlite_path.exists():
        raise CommandError(f"there is no event log at {sqlite_path} (check RUNNER_DATA_DIR)")
    started = time.perf_counter()
    src = sqlite_connect(sqlite_path, readonly=True)
    pg = connect(url)
    try:
        ensure_schema(pg)
        src.execute("BEGIN")  # one read snapshot: a service still writing cannot tear the copy
        total = int(src.execute("SELECT count(*) FROM events").fetchone()[0])
        with pg.transaction():
            pg.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            present = pg.execute("SELECT count(*) FROM events").fetchone()
            if present is not None and present[0]:
                raise CommandError(
                    f"{describe_url(url)} already holds {present[0]} events; migrate into an "
                    "empty database"
                )
            with pg.cursor() as cur, cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as cp:
                source = verify_rows(_tee(iter_rows(src), cp.write_row, progress, total))
            if not source.ok:
                first = source.issues[0]
                raise CommandError(
                    f"the SQLite log does not verify ({len(source.issues)} issues, first at "
                    f"position {first.position}: {first.detail}); nothing was copied"
                )
        src.execute("COMMIT")
        target = verify_rows(_pg_rows(pg))
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
