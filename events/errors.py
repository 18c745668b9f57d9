"""Typed errors of the event store."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of event-store errors."""


class ConcurrencyError(StoreError):
    """An append named a stream version that is no longer (or not yet) the stream's version."""

    def __init__(self, stream: str, expected: object, actual: int) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual
        shown = "no stream" if actual < 0 else f"version {actual}"
        super().__init__(
            f"stream {stream!r} is at {shown}, but the append expected {expected!r}; "
            "re-read the stream and decide again"
        )


class SchemaVersionError(StoreError):
    """The database was written by a newer (or unknown) schema than this code understands."""


class UnknownEventTypeError(StoreError):
    """A stored row names an event type this code does not know."""


class StoreClosedError(StoreError):
    """The store was closed while an append was waiting."""


class CorruptEventError(StoreError):
    """A stored row does not decode as the event type it names."""


class ChainBrokenError(StoreError):
    """The log's hash chain was found broken: appends are refused until an operator decides."""


class StorageUnavailable(StoreError):
    """The database cannot be written (or read) right now; nothing was half-written.

    ``cause`` is one of ``disk_full``, ``locked``, ``read_only``, ``io_error``; the condition is
    transient from the service's point of view (free space, release the lock, remount), so
    callers answer 503 with ``retry_after`` seconds and actors wait and retry.
    """

    def __init__(self, cause: str, detail: str, *, retry_after: int = 5) -> None:
        self.cause = cause
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"storage unavailable ({cause.replace('_', ' ')}): {detail}")


class NotOnThisBackend(StoreError):
    """An operation this backend does not offer (e.g. SQLite's file backup on PostgreSQL);
    the message names what to use instead."""


class NoSuchView(StoreError):
    """A query named a view table this log does not have (a store opened without views)."""
