"""Reads of the webhook views (``v_webhooks``, ``v_deliveries``, ``v_webhook_rejections``)."""

from __future__ import annotations

from typing import Any

from events.views import Query

ALL = Query("webhooks.all", "SELECT doc FROM v_webhooks ORDER BY created_at DESC")
_ORDER = {"v_deliveries": "received_at", "v_webhook_rejections": "rejected_at"}


def page(table: str, webhook_id: str, limit: int, offset: int) -> tuple[Query, list[Any]]:
    """A webhook's deliveries or rejections, newest first, a page at ``offset``."""
    order = _ORDER[table]
    sql = (
        f"SELECT doc FROM {table} WHERE webhook_id = ? ORDER BY {order} DESC, k DESC "
        "LIMIT ? OFFSET ?"
    )
    return Query(f"{table}.page", sql), [webhook_id, limit, offset]


def before(
    table: str, webhook_id: str, cursor: tuple[int, str] | None, limit: int
) -> tuple[Query, list[Any]]:
    """A webhook's deliveries or rejections, newest first, after the keyset ``cursor``."""
    order = _ORDER[table]
    params: list[Any] = [webhook_id]
    cond = ""
    if cursor is not None:
        cond = f" AND {order} <= ? AND ({order} < ? OR k < ?)"
        params += [cursor[0], cursor[0], cursor[1]]
    sql = (
        f"SELECT doc FROM {table} WHERE webhook_id = ?{cond} ORDER BY {order} DESC, k DESC LIMIT ?"
    )
    return Query(f"{table}.before", sql), [*params, limit]


def counted(table: str) -> Query:
    """How many deliveries or rejections a webhook has."""
    return Query(f"{table}.counted", f"SELECT count(*) FROM {table} WHERE webhook_id = ?")


#: Deliveries after the cursor (received_at, k) whose run was never requested.
WITHOUT_RUN_AFTER = Query(
    "webhooks.without_run_after",
    "SELECT doc FROM v_deliveries WHERE received_at >= ? AND (received_at > ? OR k > ?) "
    "AND run_id NOT IN (SELECT k FROM v_runs) ORDER BY received_at, k LIMIT ?",
)
