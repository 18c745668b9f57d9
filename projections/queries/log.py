"""Reads of the log table itself for the history pages (newest first, keyset-paged)."""

from __future__ import annotations

from typing import Any

from events.codec import EVENT_COLUMNS
from events.views import Query

NEWEST_POSITION = 2**62


def newest(
    before: int | None, limit: int, *, type_: str = "", stream: str = ""
) -> tuple[Query, list[Any]]:
    """Events before position ``before``, newest first; ``type_`` exact, ``stream`` exact or a
    prefix ending in ``-`` (``run-`` for every run's events)."""
    clauses = ["position < ?"]
    params: list[Any] = [before if before is not None else NEWEST_POSITION]
    pg_clauses = list(clauses)
    if type_:
        clauses.append("type = ?")
        pg_clauses.append("type = ?")
        params.append(type_)
    if stream.endswith("-"):
        # "." sorts right after "-" byte-wise; PostgreSQL compares by the C collation here
        # (a locale's collation may ignore punctuation).
        clauses.append("stream >= ? AND stream < ?")
        pg_clauses.append('stream >= ? COLLATE "C" AND stream < ? COLLATE "C"')
        params += [stream, stream[:-1] + "."]
    elif stream:
        clauses.append("stream = ?")
        pg_clauses.append("stream = ?")
        params.append(stream)
    tail = " ORDER BY position DESC LIMIT ?"
    head = f"SELECT {EVENT_COLUMNS} FROM events WHERE "
    query = Query(
        "log.newest",
        head + " AND ".join(clauses) + tail,
        dialects=(("postgresql", head + " AND ".join(pg_clauses) + tail),),
    )
    return query, [*params, limit]
