"""The read side's ports: named queries, the view reader, the view writer and the projector.

Backend-neutral. View SQL is written once, in a portable subset (``?`` placeholders, standard
functions, ``INSERT … ON CONFLICT``), as named ``Query`` objects kept in ``projections.queries``;
a backend adapts placeholders and, where a query names one, takes a dialect's own text. Each
backend implements ``ViewReader`` (async reads for callers) and ``ViewWriter`` (synchronous
writes inside the journal's transaction, for the projector).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import msgspec

from events.envelope import Recorded

#: Portable column types a view table may use (each backend maps them to its own).
COLUMN_TYPES = frozenset({"TEXT", "INTEGER", "REAL", "BLOB"})

Row = tuple[Any, ...]


class Query(msgspec.Struct, frozen=True):
    """One named read. ``sql`` is portable; ``dialects`` maps a backend's dialect name
    (``"sqlite"``, ``"postgresql"``) to its own text where no portable form exists."""

    name: str
    sql: str
    dialects: tuple[tuple[str, str], ...] = ()

    def text(self, dialect: str) -> str:
        """The SQL this query runs on ``dialect`` (still with ``?`` placeholders)."""
        for name, sql in self.dialects:
            if name == dialect:
                return sql
        return self.sql


class ViewReader(abc.ABC):
    """Reads the view tables (and the log table for the history pages) with named queries."""

    #: The SQL dialect this backend speaks: ``"sqlite"`` or ``"postgresql"``.
    dialect: str

    @abc.abstractmethod
    async def fetch(self, query: Query, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of ``query`` with ``params`` bound to its ``?`` placeholders, in order.

        Values come back as plain Python values whatever the backend (int, float, str, bytes,
        None): an aggregate is never a ``Decimal``.
        """


class ViewWriter(abc.ABC):
    """Writes view tables inside the journal's transaction (synchronous, one thread)."""

    dialect: str

    @abc.abstractmethod
    def create_table(
        self, name: str, columns: Sequence[tuple[str, str]], indexes: Sequence[str]
    ) -> None:
        """``k`` (text key), ``pos`` (last position), ``doc`` (JSON bytes) plus ``columns``
        (name, portable type), each index a comma-separated column list; idempotent."""

    @abc.abstractmethod
    def create_tracking(self) -> None:
        """The ``projection_tracking`` table (idempotent)."""

    @abc.abstractmethod
    def docs(self, table: str, where: str | None = None) -> Iterable[tuple[str, bytes]]:
        """``(k, doc)`` of every row of ``table`` matching the portable condition ``where``."""

    @abc.abstractmethod
    def doc(self, table: str, key: str) -> bytes | None:
        """One row's ``doc``, or None."""

    @abc.abstractmethod
    def upsert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert or replace rows (``k`` first in ``columns``)."""

    @abc.abstractmethod
    def delete(self, table: str, keys: Sequence[str]) -> None:
        """Delete rows by key."""

    @abc.abstractmethod
    def track(self, position: int) -> None:
        """Record that the views reflect the log up to ``position``."""


class Projector(Protocol):
    """Keeps view tables in step with the log, inside the journal's transaction."""

    def setup(self, views: ViewWriter) -> None:
        """Create the view tables (called once, before any append)."""

    def load(self, views: ViewWriter) -> None:
        """Load the in-memory state from the view tables (inside a read snapshot)."""

    def apply(self, views: ViewWriter, records: Sequence[Recorded], *, write: bool) -> None:
        """Fold ``records``; write view rows when ``write`` (else another process already did)."""

    def commit(self) -> None:
        """The transaction committed: make staged in-memory changes permanent."""

    def rollback(self) -> None:
        """The transaction rolled back: forget staged in-memory changes."""


class NullProjector:
    """A projector with no views (stores opened for the log alone)."""

    def setup(self, views: ViewWriter) -> None:
        pass

    def load(self, views: ViewWriter) -> None:
        pass

    def apply(self, views: ViewWriter, records: Sequence[Recorded], *, write: bool) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass
