"""Typed reads of view rows through the store's read-only query connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from events.sqlite_store import SQLiteEventStore
from projections.base import Table

T = TypeVar("T")
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode_row(row_type: type[T], doc: bytes) -> T:
    """Decode a view row's ``doc`` column."""
    dec = _decoders.get(row_type)
    if dec is None:
        dec = _decoders[row_type] = msgspec.json.Decoder(row_type)
    value: T = dec.decode(doc)
    return value


async def get_row(store: SQLiteEventStore, table: Table, key: str) -> Any | None:
    rows = await store.query(f"SELECT doc FROM {table.name} WHERE k = ?", (key,))
    return decode_row(table.row_type, rows[0][0]) if rows else None


async def select_rows(
    store: SQLiteEventStore, table: Table, where: str = "", params: Sequence[Any] = ()
) -> list[Any]:
    rows = await store.query(f"SELECT doc FROM {table.name} {where}", params)
    return [decode_row(table.row_type, r[0]) for r in rows]
