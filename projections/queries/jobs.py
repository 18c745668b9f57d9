"""Reads of the jobs view (``v_jobs``)."""

from __future__ import annotations

from typing import Any

from events.views import Query

BY_NAME = Query("jobs.by_name", "SELECT doc FROM v_jobs WHERE name = ?")
ALL = Query("jobs.all", "SELECT doc FROM v_jobs ORDER BY created_at")
NAMES = Query("jobs.names", "SELECT k, name FROM v_jobs")
NAME = Query("jobs.name", "SELECT name FROM v_jobs WHERE k = ?")
COUNT = Query("jobs.count", "SELECT count(*) FROM v_jobs")
NEWEST_PAGE = Query(
    "jobs.newest_page",
    "SELECT doc FROM v_jobs ORDER BY created_at DESC, k LIMIT ? OFFSET ?",
)


def newest_after(after: tuple[int, str], limit: int) -> tuple[Query, list[Any]]:
    """Jobs newest first (created_at descending, then id) after the keyset cursor."""
    sql = (
        "SELECT doc FROM v_jobs WHERE created_at <= ? AND (created_at < ? OR k > ?) "
        "ORDER BY created_at DESC, k LIMIT ?"
    )
    return Query("jobs.newest_after", sql), [after[0], after[0], after[1], limit]


def name_like(search: str) -> tuple[str, list[Any]]:
    """A case-insensitive substring match on the name (``""`` when ``search`` is blank)."""
    term = search.strip()[:200].lower()
    if not term:
        return "", []
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "WHERE lower(name) LIKE ? ESCAPE '\\' ", [f"%{escaped}%"]


def by_name(search: str, limit: int, offset: int) -> tuple[Query, list[Any]]:
    """Jobs whose name contains ``search``, by name (case-insensitive), a page at ``offset``."""
    where, params = name_like(search)
    sql = f"SELECT doc FROM v_jobs {where}ORDER BY lower(name), k LIMIT ? OFFSET ?"
    return Query("jobs.by_name_page", sql), [*params, limit, offset]


def after_name(search: str, after: tuple[str, str] | None, limit: int) -> tuple[Query, list[Any]]:
    """Jobs whose name contains ``search``, by name, after the keyset cursor (lower name, id)."""
    where, params = name_like(search)
    if after is not None:
        where = (where + "AND " if where else "WHERE ") + (
            "(lower(name) > ? OR (lower(name) = ? AND k > ?)) "
        )
        params += [after[0], after[0], after[1]]
    sql = f"SELECT doc FROM v_jobs {where}ORDER BY lower(name), k LIMIT ?"
    return Query("jobs.after_name", sql), [*params, limit]


def suggestions(search: str, limit: int) -> tuple[Query, list[Any]]:
    """``(k, name)`` of the first jobs whose name contains ``search``."""
    where, params = name_like(search)
    sql = f"SELECT k, name FROM v_jobs {where}ORDER BY lower(name), k LIMIT ?"
    return Query("jobs.suggestions", sql), [*params, limit]


def matching(search: str) -> tuple[Query, list[Any]]:
    """How many jobs' names contain ``search``."""
    where, params = name_like(search)
    return Query("jobs.matching", f"SELECT count(*) FROM v_jobs {where}"), params


ALL_ROWS = Query("jobs.all_rows", "SELECT doc FROM v_jobs")
