"""Runs projections over events in memory, staging changes until the caller commits them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from events.envelope import Recorded
from projections.base import Change, Handler, Projection, Table, handler_for

_DELETED: Any = object()


class Folder:
    """Holds the in-memory tables and applies projections to them.

    ``apply`` stages changes in an overlay and returns them; ``commit`` makes the overlay
    permanent, ``rollback`` forgets it (the journal calls these around its transaction).

    Bounded tables (``Table.keep``): once a ``loader`` is installed (the projector does, with
    the transaction's connection), committed rows that ``keep`` refuses leave memory and ``get``
    reads them back through the loader. The fold's result is the same either way, because the
    loader returns exactly the row that was written. Without a loader nothing is evicted.
    """

    def __init__(self, projections: Sequence[Projection]) -> None:
        self.projections = tuple(projections)
        self.tables: dict[str, Table] = {}
        for p in self.projections:
            for t in p.tables:
                self.tables[t.name] = t
        self._base: dict[str, dict[str, Any]] = {
            name: {} for name, t in self.tables.items() if t.memory
        }
        self._overlay: dict[tuple[str, str], Any] = {}
        self._keep: dict[str, Callable[[Any], bool]] = {
            name: t.keep for name, t in self.tables.items() if t.memory and t.keep is not None
        }
        #: Reads one committed row of a bounded table: ``loader(table, key)``.
        self.loader: Callable[[str, str], Any | None] | None = None
        self._memory = frozenset(self._base)
        self._routes: dict[str, tuple[Handler, ...]] = {}
        for p in self.projections:
            for type_ in p.handles:
                self._routes[type_] = (*self._routes.get(type_, ()), handler_for(p, type_))

    # View protocol
    def get(self, table: str, key: str) -> Any | None:
        row = self._overlay.get((table, key), None)
        if row is None:
            row = self._base[table].get(key)
            if row is None and self.loader is not None and table in self._keep:
                return self.loader(table, key)
            return row
        return None if row is _DELETED else row

    def keys(self, table: str) -> Iterable[str]:
        if table in self._keep:
            raise ValueError(f"{table} is bounded in memory: its keys are not all here")
        keys = set(self._base[table])
        for (t, k), row in self._overlay.items():
            if t == table:
                if row is _DELETED:
                    keys.discard(k)
                else:
                    keys.add(k)
        return sorted(keys)

    def load_rows(self, table: str, rows: Iterable[tuple[str, Any]]) -> None:
        self._base[table].update(rows)

    def apply(self, rec: Recorded) -> list[Change]:
        """Fold one event; returns the row changes (also staged in memory)."""
        routes = self._routes.get(rec.type)
        if not routes:
            return []
        out: list[Change] = []
        overlay = self._overlay
        memory = self._memory
        for fold in routes:
            for change in fold(self, rec):
                table, key, row = change
                if table in memory:
                    overlay[(table, key)] = _DELETED if row is None else row
                out.append(change)
        return out

    def commit(self) -> None:
        base = self._base
        keep = self._keep if self.loader is not None else {}
        for (table, key), row in self._overlay.items():
            if row is _DELETED:
                base[table].pop(key, None)
            else:
                accept = keep.get(table)
                if accept is None or accept(row):
                    base[table][key] = row
                else:
                    base[table].pop(key, None)
        self._overlay.clear()

    def rollback(self) -> None:
        self._overlay.clear()

    def snapshot(self, table: str) -> dict[str, Any]:
        """A copy of a committed in-memory table (for tests and rebuild diffs)."""
        return dict(self._base[table])
