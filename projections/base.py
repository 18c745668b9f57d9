"""What a projection is: tables of rows, and a deterministic fold from events to row changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import msgspec

from events.envelope import Recorded


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A view table. Rows are msgspec Structs stored as JSON in ``doc``, keyed by ``k``.

    ``columns`` are extra SQL columns (name, SQL type) filled by ``extract`` for filtering,
    sorting and aggregation; ``indexes`` are column lists to index. Tables with ``memory``
    are also held in memory so folds can read them; others (high-volume, append-only) are not.
    A table with ``keep`` holds in memory only the rows ``keep`` accepts (loaded with the SQL
    condition ``keep_sql``), so memory follows live work rather than history; a fold asking for
    another key reads it through from the view table (``Folder.loader``).
    """

    name: str
    row_type: type[Any]
    columns: tuple[tuple[str, str], ...] = ()
    extract: Callable[[Any], tuple[Any, ...]] | None = None
    indexes: tuple[str, ...] = ()
    memory: bool = True
    keep: Callable[[Any], bool] | None = None
    keep_sql: str | None = None


Change = tuple[str, str, Any | None]
"""``(table, key, row)``: set ``row`` at ``key`` in ``table`` (``None`` deletes it). A plain
tuple because folds create one per event: it is the hottest allocation of a rebuild."""


class View(Protocol):
    """Read access to in-memory tables during a fold."""

    def get(self, table: str, key: str) -> Any | None: ...

    def keys(self, table: str) -> Iterable[str]: ...


class Projection(Protocol):
    """A pure fold: given the current view and one event, the row changes it causes."""

    name: str
    tables: tuple[Table, ...]
    handles: frozenset[str]

    def apply(self, view: View, rec: Recorded) -> Iterable[Change]: ...


Handler = Callable[[View, Recorded], Iterable[Change]]


def handler_for(projection: Projection, type_name: str) -> Handler:
    """The function folding ``type_name`` events (direct, skipping a dispatch layer if known)."""
    handlers: dict[str, Handler] | None = getattr(projection, "handlers", None)
    if handlers is not None and type_name in handlers:
        return handlers[type_name]
    return projection.apply


def simple_projection(
    name: str,
    tables: tuple[Table, ...],
    handlers: dict[type[Any], Callable[[View, Recorded], Iterable[Change]]],
) -> Projection:
    """Build a projection from a mapping of event type to handler."""
    by_name = {t.__name__: fn for t, fn in handlers.items()}

    class _P:
        def __init__(self) -> None:
            self.name = name
            self.tables = tables
            self.handles = frozenset(by_name)
            self.handlers = by_name

        def apply(self, view: View, rec: Recorded) -> Iterable[Change]:
            return by_name[rec.type](view, rec)

    return _P()
