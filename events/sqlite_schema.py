"""The SQLite layout of the log, connection settings and the schema-version guard."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from events.errors import SchemaVersionError

#: Bump when the table layout changes; a database from a newer version is refused.
STORE_SCHEMA_VERSION = 1

EVENT_COLUMNS = "position, stream, version, type, data, meta, recorded_at, hash"

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
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS store_info (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


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
        return
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
        else:
            _check_version(int(row[0]))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
