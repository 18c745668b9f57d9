"""The view ports on PostgreSQL: placeholders, dialect text, column types, upserts.

View tables live in the same database as the log and are written in the append's transaction,
so every node reads the same views. Portable column types map to PostgreSQL's; values are
normalized both ways (a Python ``bool`` is stored as 0/1 like SQLite does; ``numeric``
aggregates come back as ``int``/``float``, never ``Decimal``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import psycopg

from events.backend import SideConnection
from events.views import Query, Row, ViewWriter

DIALECT = "postgresql"
TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea"}


def adapt(sql: str) -> str:
    """Portable text → psycopg's: ``?`` becomes ``%s``, a literal ``%`` is doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


def sql_of(query: Query) -> str:
    """The query's text for PostgreSQL."""
    return _adapt_cached(query.text(DIALECT))


@functools.lru_cache(maxsize=1024)
def _adapt_cached(sql: str) -> str:
    return adapt(sql)


def plain(value: Any) -> Any:
    """A value read back as SQLite would return it."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def plain_rows(rows: Iterable[Sequence[Any]]) -> list[Row]:
    return [tuple(plain(v) for v in r) for r in rows]


def stored(value: Any) -> Any:
    """A parameter as PostgreSQL takes it (bool → 0/1, as SQLite stores it)."""
    return int(value) if isinstance(value, bool) else value


def _cols(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


class PostgresViewWriter(ViewWriter):
    """View tables in the log's database, written in the journal's transaction."""

    dialect = DIALECT

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._upserts: dict[tuple[str, tuple[str, ...]], str] = {}

    def create_table(
        self, name: str, columns: Sequence[tuple[str, str]], indexes: Sequence[str]
    ) -> None:
        cols = "".join(f', "{c}" {TYPES[type_.upper()]}' for c, type_ in columns)
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} "
            f"(k text PRIMARY KEY, pos bigint NOT NULL, doc bytea NOT NULL{cols})"
        )
        for i, idx in enumerate(indexes):
            quoted = ", ".join(_index_part(p) for p in idx.split(","))
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_i{i} ON {name} ({quoted})")

    def create_tracking(self) -> None:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS projection_tracking "
            "(name text PRIMARY KEY, position bigint NOT NULL)"
        )

    def docs(self, table: str, where: str | None = None) -> Iterable[tuple[str, bytes]]:
        cond = f" WHERE {adapt(where)}" if where else ""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT k, doc FROM {table}{cond}")
            return [(str(k), bytes(doc)) for k, doc in cur.fetchall()]

    def doc(self, table: str, key: str) -> bytes | None:
        row = self.conn.execute(f"SELECT doc FROM {table} WHERE k = %s", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def upsert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        sig = (table, tuple(columns))
        sql = self._upserts.get(sig)
        if sql is None:
            marks = ", ".join(["%s"] * len(columns))
            sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns[1:])
            sql = self._upserts[sig] = (
                f"INSERT INTO {table} ({_cols(columns)}) VALUES ({marks}) "
                f"ON CONFLICT (k) DO UPDATE SET {sets}"
            )
        with self.conn.cursor() as cur:
            cur.executemany(sql, [tuple(stored(v) for v in r) for r in rows])

    def delete(self, table: str, keys: Sequence[str]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(f"DELETE FROM {table} WHERE k = %s", [(k,) for k in keys])

    def track(self, position: int) -> None:
        self.conn.execute(
            "INSERT INTO projection_tracking (name, position) VALUES ('views', %s) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
            (position,),
        )


def _index_part(part: str) -> str:
    """``col`` or ``col DESC`` with the column quoted (``user`` is reserved in PostgreSQL)."""
    name, _, rest = part.strip().partition(" ")
    return f'"{name}"' + (f" {rest}" if rest else "")


class PostgresSideConnection(SideConnection):
    """Operational tables in the log's database (autocommit)."""

    def __init__(self, url: str) -> None:
        from events.postgres_schema import connect

        self.conn = connect(url)

    def has_table(self, name: str) -> bool:
        row = self.conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
        return row is not None and row[0] is not None

    def execute(self, query: Query, params: Sequence[Any] = ()) -> tuple[list[Row], int]:
        with self.conn.cursor() as cur:
            cur.execute(sql_of(query), tuple(stored(v) for v in params))
            rows = plain_rows(cur.fetchall()) if cur.description else []
            return rows, cur.rowcount

    def close(self) -> None:
        self.conn.close()
