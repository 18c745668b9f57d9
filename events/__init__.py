"""The event log: event types, the ``EventStore`` interface and its SQLite implementation."""

from __future__ import annotations

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
from events.sqlite_journal import NullProjector, Projector
from events.sqlite_store import SQLiteEventStore
from events.store import EventStore, Subscription

__all__ = [
    "ANY",
    "EVENT_TYPES",
    "EXISTS",
    "NO_STREAM",
    "SCHEMA_VERSIONS",
    "AppendRequest",
    "AppendResult",
    "ConcurrencyError",
    "CorruptEventError",
    "Event",
    "EventStore",
    "ExpectedVersion",
    "Meta",
    "NullProjector",
    "Projector",
    "Recorded",
    "SQLiteEventStore",
    "SchemaVersionError",
    "StoreClosedError",
    "StoreError",
    "Subscription",
    "UnknownEventTypeError",
    "type_name",
]
