"""The event log: event types, the ``EventStore``/``Backend`` interfaces, SQLite and PostgreSQL."""

from __future__ import annotations

from events.backend import Backend, SideConnection
from events.catalogue import EVENT_TYPES, SCHEMA_VERSIONS, Event, type_name
from events.envelope import (
    ANY,
    EXISTS,
    NO_STREAM,
    AppendRequest,
    AppendResult,
    ExpectedVersion,
    Meta,
    Recorded,
)
from events.errors import (
    ConcurrencyError,
    CorruptEventError,
    SchemaVersionError,
    StoreClosedError,
    StoreError,
    UnknownEventTypeError,
)
from events.factory import is_database_url, open_store
from events.sqlite_store import SQLiteEventStore
from events.store import EventStore, Subscription
from events.views import NullProjector, Projector, Query, ViewReader, ViewWriter

__all__ = [
    "ANY",
    "EVENT_TYPES",
    "EXISTS",
    "NO_STREAM",
    "SCHEMA_VERSIONS",
    "AppendRequest",
    "AppendResult",
    "Backend",
    "ConcurrencyError",
    "CorruptEventError",
    "Event",
    "EventStore",
    "ExpectedVersion",
    "Meta",
    "NullProjector",
    "Projector",
    "Query",
    "Recorded",
    "SQLiteEventStore",
    "SchemaVersionError",
    "SideConnection",
    "StoreClosedError",
    "StoreError",
    "Subscription",
    "UnknownEventTypeError",
    "ViewReader",
    "ViewWriter",
    "is_database_url",
    "open_store",
    "type_name",
]
