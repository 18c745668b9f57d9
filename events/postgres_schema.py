"""The PostgreSQL layout of the log, connecting with clear errors, and the version guards.

Positions are assigned by the writer under an advisory lock (no sequence): a reader tailing
``position > last`` can never skip a row that commits later, and a rolled-back batch leaves no
hole. ``data`` and ``meta`` are ``bytea``, not ``jsonb``: the hash chain covers the exact bytes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import psycopg

from events.errors import SchemaVersionError, StorageUnavailable, StoreError
from events.sqlite_schema import EVENT_COLUMNS, STORE_SCHEMA_VERSION

#: The oldest server this store runs on (``SHOW server_version_num``).
MIN_SERVER_VERSION = 130000
#: ``pg_advisory_xact_lock`` key held by the one writer of a database at a time.
WRITE_LOCK_KEY = 0x636C_6175_6465  # "claude"
#: The channel each commit announces its last position on (a wake-up, never the data).
CHANNEL = "claude_runner_events"
CONNECT_TIMEOUT_S = 5

__all__ = [
    "CHANNEL",
    "EVENT_COLUMNS",
    "WRITE_LOCK_KEY",
    "DatabaseUnreachable",
    "StoreUnavailableError",
]

DDL = (
    """CREATE TABLE IF NOT EXISTS events (
        position    bigint  PRIMARY KEY,
        stream      text    NOT NULL,
        version     integer NOT NULL,
        type        text    NOT NULL,
        data        bytea   NOT NULL,
        meta        bytea   NOT NULL,
        recorded_at bigint  NOT NULL,
        hash        text    NOT NULL,
        mac         text,
        UNIQUE (stream, version)
    )""",
    # The digest of each erased row's data keeps the plain chain checkable (events.chain).
    "CREATE TABLE IF NOT EXISTS erased (position bigint PRIMARY KEY, digest text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS store_info (key text PRIMARY KEY, value text NOT NULL)",
    # Append-only in the database too: rows are never deleted and their identity and hash never
    # change, whoever connects. (Payload columns stay updatable for erasure by digest.)
    """CREATE OR REPLACE FUNCTION claude_runner_refuse_rewrite() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the event log is append-only (% refused)', TG_OP; END $$""",
    "DROP TRIGGER IF EXISTS events_append_only ON events",
    """CREATE TRIGGER events_append_only
        BEFORE UPDATE OF position, stream, version, type, recorded_at, hash, mac
            OR DELETE OR TRUNCATE
        ON events FOR EACH STATEMENT EXECUTE FUNCTION claude_runner_refuse_rewrite()""",
)


class StoreUnavailableError(StoreError):
    """The database cannot be reached or used: the message says why (host, auth, version)."""


class DatabaseUnreachable(StorageUnavailable, StoreUnavailableError):
    """The database went away after the store opened (restart, failover, network): a storage
    fault like a held lock or a full disk, answered with 503 / exit 75 and retried; the next
    read or append reconnects."""

    def __init__(self, detail: str, *, cause: str = "unreachable", retry_after: int = 5) -> None:
        super().__init__(cause, detail, retry_after=retry_after)


def describe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A synchronous connection, or ``StoreUnavailableError`` naming host, auth or version."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StoreUnavailableError(_reason(url, exc)) from None
    try:
        check_server(conn.info.server_version, url)
        # A node that hangs inside a transaction must not hold the write lock for ever.
        conn.execute("SET idle_in_transaction_session_timeout = '60s'")
    except BaseException:
        conn.close()
        raise
    return conn


async def connect_async(url: str) -> psycopg.AsyncConnection[Any]:
    """An async connection (autocommit), or ``StoreUnavailableError``."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.Error as exc:
        raise StoreUnavailableError(_reason(url, exc)) from None
    try:
        check_server(conn.info.server_version, url)
    except BaseException:
        await conn.close()
        raise
    return conn


def _reason(url: str, exc: psycopg.Error) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot use the PostgreSQL database {describe_url(url)}: {text}"


def check_server(version_num: int, url: str) -> None:
    """Refuse a server older than ``MIN_SERVER_VERSION``."""
    if version_num < MIN_SERVER_VERSION:
        found = f"{version_num // 10000}.{version_num % 10000}"
        raise StoreUnavailableError(
            f"the PostgreSQL server at {describe_url(url)} runs version {found}; Claude Runner "
            f"needs PostgreSQL {MIN_SERVER_VERSION // 10000} or newer"
        )


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the log tables (one node at a time), or refuse a newer schema."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        for stmt in DDL:
            conn.execute(stmt)
        row = conn.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO store_info(key, value) VALUES ('schema_version', %s)",
                (str(STORE_SCHEMA_VERSION),),
            )
            # Every row of a new log is a v2 row: chained over its data digest, keyed.
            conn.execute("INSERT INTO store_info(key, value) VALUES ('v2_from', '1')")
        elif int(row[0]) > STORE_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"this database was written by a newer Claude Runner (store schema {row[0]}, "
                f"this version understands up to {STORE_SCHEMA_VERSION}); upgrade Claude Runner"
            )
