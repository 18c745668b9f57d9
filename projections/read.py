"""Typed reads of view rows through the store's ``ViewReader``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from events.views import Query, ViewReader
from projections.base import Table
from projections.queries.common import by_key, decode, decode_all

__all__ = ["decode_row", "get_row", "select_rows"]

decode_row = decode


async def get_row(store: ViewReader, table: Table, key: str) -> Any | None:
    """The row of ``table`` at ``key``, decoded, or None."""
    rows = await store.fetch(by_key(table.name), (key,))
    return decode(table.row_type, rows[0][0]) if rows else None


async def select_rows(
    store: ViewReader, table: Table, query: Query, params: Sequence[Any] = ()
) -> list[Any]:
    """The rows of ``table`` a named query (selecting ``doc``) returns, decoded."""
    return decode_all(table.row_type, await store.fetch(query, params))
