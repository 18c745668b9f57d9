"""Keeps every view table in step with the log, inside the journal's transaction.

Backend-neutral: it folds events in memory (``Folder``) and hands the row changes to the
backend's ``events.views.ViewWriter`` (SQLite, PostgreSQL), which owns the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from events.envelope import Recorded
from events.views import ViewWriter
from projections.base import Projection, Table
from projections.folder import Folder

_encoder = msgspec.json.Encoder()


def table_columns(t: Table) -> list[str]:
    """The columns an upsert of ``t`` writes, in order."""
    return ["k", "pos", "doc", *(c for c, _ in t.columns)]


def create_tables(views: ViewWriter, tables: Sequence[Table]) -> None:
    """The tracking table and every view table (idempotent)."""
    views.create_tracking()
    for t in tables:
        views.create_table(t.name, t.columns, t.indexes)


class ViewProjector:
    """The ``events.views.Projector`` that keeps every view table in step with the log."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.folder = Folder(projections)
        self._decoders = {
            name: msgspec.json.Decoder(t.row_type) for name, t in self.folder.tables.items()
        }
        self._views: ViewWriter | None = None

    def _load_one(self, table: str, key: str) -> Any | None:
        """A committed row of a bounded table, read in the journal's own transaction."""
        assert self._views is not None
        doc = self._views.doc(table, key)
        return None if doc is None else self._decoders[table].decode(doc)

    def setup(self, views: ViewWriter) -> None:
        create_tables(views, list(self.folder.tables.values()))

    def load(self, views: ViewWriter) -> None:
        for t in self.folder.tables.values():
            if not t.memory:
                continue
            decoder = self._decoders[t.name]
            rows = views.docs(t.name, t.keep_sql)
            self.folder.load_rows(t.name, ((k, decoder.decode(doc)) for k, doc in rows))
        self._views = views
        self.folder.loader = self._load_one

    def apply(self, views: ViewWriter, records: Sequence[Recorded], *, write: bool) -> None:
        self._views = views
        pending: dict[tuple[str, str], tuple[Any, int]] = {}
        for rec in records:
            for change in self.folder.apply(rec):
                pending[(change[0], change[1])] = (change[2], rec.position)
        if write and records:
            write_changes(views, self.folder.tables, pending)
            views.track(records[-1].position)

    def commit(self) -> None:
        self.folder.commit()

    def rollback(self) -> None:
        self.folder.rollback()


def write_changes(
    views: ViewWriter,
    tables: dict[str, Table],
    pending: dict[tuple[str, str], tuple[Any, int]],
) -> None:
    """Write coalesced changes (last change per key wins), one batch per table."""
    upserts: dict[str, list[tuple[Any, ...]]] = {}
    deletes: dict[str, list[str]] = {}
    for (table, key), (row, pos) in pending.items():
        if row is None:
            deletes.setdefault(table, []).append(key)
            continue
        t = tables[table]
        extra = t.extract(row) if t.extract else ()
        upserts.setdefault(table, []).append((key, pos, _encoder.encode(row), *extra))
    for table, keys in deletes.items():
        views.delete(table, keys)
    for table, rows in upserts.items():
        views.upsert(table, table_columns(tables[table]), rows)
