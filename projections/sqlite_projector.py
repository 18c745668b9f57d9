"""Writes projection changes into SQLite view tables inside the journal's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from events.envelope import Recorded
from projections.base import Projection, Table
from projections.folder import Folder

_encoder = msgspec.json.Encoder()
TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking "
    "(name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
)


def table_ddl(t: Table) -> list[str]:
    cols = "".join(f", {name} {type_}" for name, type_ in t.columns)
    stmts = [
        f"CREATE TABLE IF NOT EXISTS {t.name} "
        f"(k TEXT PRIMARY KEY, pos INTEGER NOT NULL, doc BLOB NOT NULL{cols})"
    ]
    for i, idx in enumerate(t.indexes):
        stmts.append(f"CREATE INDEX IF NOT EXISTS {t.name}_i{i} ON {t.name} ({idx})")
    return stmts


def _upsert_sql(t: Table) -> str:
    names = ", ".join(["k", "pos", "doc", *(c for c, _ in t.columns)])
    marks = ", ".join("?" * (3 + len(t.columns)))
    return f"INSERT OR REPLACE INTO {t.name} ({names}) VALUES ({marks})"


class SQLiteProjector:
    """The ``events.Projector`` that keeps every view table in step with the log."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.folder = Folder(projections)
        self._upserts = {name: _upsert_sql(t) for name, t in self.folder.tables.items()}
        self._decoders = {
            name: msgspec.json.Decoder(t.row_type) for name, t in self.folder.tables.items()
        }
        self._conn: sqlite3.Connection | None = None

    def _load_one(self, table: str, key: str) -> Any | None:
        """A committed row of a bounded table, read in the journal's own transaction."""
        assert self._conn is not None
        row = self._conn.execute(f"SELECT doc FROM {table} WHERE k = ?", (key,)).fetchone()
        return None if row is None else self._decoders[table].decode(row[0])

    def setup(self, conn: sqlite3.Connection) -> None:
        conn.execute(TRACKING_DDL)
        for t in self.folder.tables.values():
            for stmt in table_ddl(t):
                conn.execute(stmt)

    def load(self, conn: sqlite3.Connection) -> None:
        for t in self.folder.tables.values():
            if not t.memory:
                continue
            decoder = self._decoders[t.name]
            where = f" WHERE {t.keep_sql}" if t.keep_sql else ""
            rows = conn.execute(f"SELECT k, doc FROM {t.name}{where}")
            self.folder.load_rows(t.name, ((k, decoder.decode(doc)) for k, doc in rows))
        self._conn = conn
        self.folder.loader = self._load_one

    def apply(self, conn: sqlite3.Connection, records: Sequence[Recorded], *, write: bool) -> None:
        self._conn = conn
        pending: dict[tuple[str, str], tuple[Any, int]] = {}
        for rec in records:
            for change in self.folder.apply(rec):
                pending[(change[0], change[1])] = (change[2], rec.position)
        if write and records:
            write_changes(conn, self.folder.tables, pending)
            conn.execute(
                "INSERT OR REPLACE INTO projection_tracking (name, position) VALUES ('views', ?)",
                (records[-1].position,),
            )

    def commit(self) -> None:
        self.folder.commit()

    def rollback(self) -> None:
        self.folder.rollback()


def write_changes(
    conn: sqlite3.Connection,
    tables: dict[str, Table],
    pending: dict[tuple[str, str], tuple[Any, int]],
) -> None:
    """Write coalesced changes (last change per key wins), one executemany per table."""
    upserts: dict[str, list[tuple[Any, ...]]] = {}
    deletes: dict[str, list[tuple[str]]] = {}
    for (table, key), (row, pos) in pending.items():
        if row is None:
            deletes.setdefault(table, []).append((key,))
            continue
        t = tables[table]
        extra = t.extract(row) if t.extract else ()
        upserts.setdefault(table, []).append((key, pos, _encoder.encode(row), *extra))
    for table, rows in deletes.items():
        conn.executemany(f"DELETE FROM {table} WHERE k = ?", rows)
    for table, rows in upserts.items():
        conn.executemany(_upsert_sql(tables[table]), rows)
