"""The view ports on SQLite: ``ViewWriter`` over the journal's connection, and query text."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from events.backend import SideConnection
from events.views import Query, Row, ViewWriter

DIALECT = "sqlite"


def sql_of(query: Query) -> str:
    """SQLite runs the portable text as it is (``?`` placeholders)."""
    return query.text(DIALECT)


def _cols(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


class SQLiteViewWriter(ViewWriter):
    """View tables in the same file as the log, written in the journal's transaction."""

    dialect = DIALECT

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._upserts: dict[tuple[str, tuple[str, ...]], str] = {}

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """A raw statement in the journal's transaction (for SQLite-only projectors)."""
        return self.conn.execute(sql, params)

    def create_table(
        self, name: str, columns: Sequence[tuple[str, str]], indexes: Sequence[str]
    ) -> None:
        cols = "".join(f', "{c}" {type_}' for c, type_ in columns)
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} "
            f"(k TEXT PRIMARY KEY, pos INTEGER NOT NULL, doc BLOB NOT NULL{cols})"
        )
        for i, idx in enumerate(indexes):
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_i{i} ON {name} ({idx})")

    def create_tracking(self) -> None:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS projection_tracking "
            "(name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
        )

    def docs(self, table: str, where: str | None = None) -> Iterable[tuple[str, bytes]]:
        cond = f" WHERE {where}" if where else ""
        return self.conn.execute(f"SELECT k, doc FROM {table}{cond}")

    def doc(self, table: str, key: str) -> bytes | None:
        row = self.conn.execute(f"SELECT doc FROM {table} WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def upsert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        sig = (table, tuple(columns))
        sql = self._upserts.get(sig)
        if sql is None:
            marks = ", ".join("?" * len(columns))
            sql = self._upserts[sig] = (
                f"INSERT OR REPLACE INTO {table} ({_cols(columns)}) VALUES ({marks})"
            )
        self.conn.executemany(sql, rows)

    def delete(self, table: str, keys: Sequence[str]) -> None:
        self.conn.executemany(f"DELETE FROM {table} WHERE k = ?", [(k,) for k in keys])

    def track(self, position: int) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO projection_tracking (name, position) VALUES ('views', ?)",
            (position,),
        )


class SQLiteSideConnection(SideConnection):
    """Operational tables in the log's file, with a short busy timeout."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 1000) -> None:
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")

    def has_table(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def execute(self, query: Query, params: Sequence[Any] = ()) -> tuple[list[Row], int]:
        cur = self.conn.execute(sql_of(query), tuple(params))
        rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        return rows, cur.rowcount

    def close(self) -> None:
        self.conn.close()
