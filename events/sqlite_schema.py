"""The SQLite layout of the log, connection settings and the schema-version guard."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from events.codec import EVENT_COLUMNS as EVENT_COLUMNS
from events.errors import SchemaVersionError

#: Bump when the table layout changes; a database from a newer version is refused.
STORE_SCHEMA_VERSION = 2


DDL = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    data        BLOB    NOT NULL,
    meta        BLOB    NOT NULL,
    recorded_at INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    mac         TEXT,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS erased (
    position INTEGER PRIMARY KEY,
    digest   TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS store_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """End a failed transaction without hiding why it failed: SQLite may have rolled back
    already (a full disk does), and a failing ``ROLLBACK`` must never replace the cause."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the settings every part of the store relies on."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before the append returns (durable, not just crash-safe).
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def _upgrade_to_v2(conn: sqlite3.Connection) -> None:
    """v1 -> v2: a MAC column and the erased-digest table; rows from the next position on are
    chained over their data digest and keyed (see ``events.chain``). Old rows are not rewritten.
    """
    columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
    if "mac" not in columns:
        conn.execute("ALTER TABLE events ADD COLUMN mac TEXT")
    (head,) = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    conn.execute(
        "INSERT OR IGNORE INTO store_info(key, value) VALUES ('v2_from', ?)", (str(head + 1),)
    )
    conn.execute("UPDATE store_info SET value = '2' WHERE key = 'schema_version'")


def _check_version(found: int) -> None:
    if found > STORE_SCHEMA_VERSION:
        raise SchemaVersionError(
            f"this database was written by a newer Claude Runner (store schema {found}, "
            f"this version understands up to {STORE_SCHEMA_VERSION}); upgrade Claude "
            "Runner or point RUNNER_DATA_DIR at another directory"
        )


def _existing_version(conn: sqlite3.Connection) -> int | None:
    """The stored schema version when the log tables exist already (a read: no write lock)."""
    try:
        row = conn.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
        conn.execute("SELECT 1 FROM events LIMIT 0")
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else int(row[0])


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the log tables, or refuse a database written by a newer schema.

    An existing log is only read here, so opening it never waits for another process's
    write lock (read-only commands keep working while a writer holds it).
    """
    found = _existing_version(conn)
    if found is not None:
        _check_version(found)
        if found >= STORE_SCHEMA_VERSION:
            return  # an older log is upgraded below, under the write lock
    conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in DDL.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        row = conn.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO store_info(key, value) VALUES ('schema_version', ?)",
                (str(STORE_SCHEMA_VERSION),),
            )
            conn.execute("INSERT OR IGNORE INTO store_info(key, value) VALUES ('v2_from', '1')")
        else:
            found = int(row[0])
            _check_version(found)
            if found < 2:
                _upgrade_to_v2(conn)
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise
