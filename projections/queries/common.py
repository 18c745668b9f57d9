"""Helpers shared by the named queries: by key, counts, ``IN`` lists, decoding docs."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from events.views import Query

T = TypeVar("T")
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode(row_type: type[T], doc: bytes) -> T:
    """Decode a view row's ``doc`` column."""
    dec = _decoders.get(row_type)
    if dec is None:
        dec = _decoders[row_type] = msgspec.json.Decoder(row_type)
    value: T = dec.decode(doc)
    return value


def decode_all(row_type: type[T], rows: Iterable[Sequence[Any]]) -> list[T]:
    """Decode the first column (``doc``) of every row."""
    return [decode(row_type, r[0]) for r in rows]


@functools.cache
def by_key(table: str) -> Query:
    """One row's ``doc`` of ``table`` by its key."""
    return Query(f"{table}.by_key", f"SELECT doc FROM {table} WHERE k = ?")


@functools.lru_cache(maxsize=256)
def count(table: str, where: str = "") -> Query:
    """The number of rows of ``table`` matching the portable condition ``where``."""
    cond = f" WHERE {where}" if where else ""
    return Query(f"{table}.count", f"SELECT count(*) FROM {table}{cond}")


def in_marks(n: int) -> str:
    """``?, ?, …`` for an ``IN`` list of ``n`` values (at least one)."""
    return ", ".join("?" * max(1, n))


def where_all(clauses: Sequence[str]) -> str:
    """``clauses`` joined with AND (empty when there are none)."""
    return " AND ".join(clauses)
