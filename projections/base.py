"""What a projection is: tables of rows, and a deterministic fold from events to row changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

import msgspec

from events.envelope import Recorded


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A view table. Rows are msgspec Structs stored as JSON in ``doc``, keyed by ``k``.

    ``columns`` are extra SQL columns (name, SQL type) filled by ``extract`` for filtering,
    sorting and aggregation; ``indexes`` are column lists to index. Tables with ``memory``
    are also held in memory so folds can read them; others (high-volume, append-only) are not.
    """

    name: str
    row_type: type[Any]
    columns: tuple[tuple[str, str], ...] = ()
    extract: Callable[[Any], tuple[Any, ...]] | None = None
    indexes: tuple[str, ...] = ()
    memory: bool = True


class Change(NamedTuple):
    """Set ``row`` at ``key`` in ``table`` (``None`` deletes it)."""

    table: str
    key: str
    row: Any | None


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

        def apply(self, view: View, rec: Recorded) -> Iterable[Change]:
            return by_name[rec.type](view, rec)

    return _P()
