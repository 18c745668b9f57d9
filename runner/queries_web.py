"""Reads the dashboard needs beyond ``runner.queries``: failures, chart series, the raw log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from events.backend import Backend
from events.codec import decode_row as decode_event_row
from events.envelope import Recorded
from projections import JobView, RunView
from projections.queries import costs as cost_queries
from projections.queries import jobs as job_queries
from projections.queries import log as log_queries
from projections.queries import runs as run_queries
from projections.queries.runs import RunWhere
from projections.read import decode_row
from runner.queries import MAX_PAGE, RunFilter, run_where

FAILED_STATES = ("failed", "timed_out", "crashed")


class WebQueries:
    def __init__(self, store: Backend) -> None:
        self.store = store

    async def failures_since(self, since_us: int, *, limit: int = 20) -> tuple[list[RunView], int]:
        """Failed, timed-out and crashed runs requested since ``since_us`` (newest first)."""
        where = RunWhere(states=FAILED_STATES, since_us=since_us)
        rows = await self.store.fetch(*run_queries.newest(where, min(limit, MAX_PAGE)))
        count = await self.store.fetch(*run_queries.counted(where))
        return [decode_row(RunView, r[0]) for r in rows], int(count[0][0])

    async def cost_series(self, *, days: int, by: str) -> tuple[list[str], dict[str, list[float]]]:
        """Per-day cost for the last ``days`` UTC days, one series per job or per model."""
        end = dt.datetime.now(dt.UTC).date()
        start = end - dt.timedelta(days=days - 1)
        labels = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
        rows = await self.store.fetch(cost_queries.series(by), (start.isoformat(), end.isoformat()))
        index = {d: i for i, d in enumerate(labels)}
        series: dict[str, list[float]] = {}
        for day, key, cost in rows:
            name = str(key) if key else ("no job" if by == "job" else "unknown")
            series.setdefault(name, [0.0] * days)[index[day]] += float(cost or 0.0)
        return labels, series

    async def cost_by_source(self, *, days: int) -> tuple[list[str], dict[str, list[float]]]:
        """Per-day cost (UTC day the run finished) by what started the run: ``job:<id>``,
        ``webhook:<id>``, or the trigger of a run with neither (``quick``, ``mcp``…)."""
        end = dt.datetime.now(dt.UTC).date()
        start = end - dt.timedelta(days=days - 1)
        labels = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
        since = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1e6)
        rows = await self.store.fetch(run_queries.COST_BY_SOURCE, (since,))
        index = {d: i for i, d in enumerate(labels)}
        series: dict[str, list[float]] = {}
        for day, key, cost in rows:
            if day in index:
                series.setdefault(str(key), [0.0] * days)[index[day]] += float(cost or 0.0)
        return labels, series

    async def runs_before(
        self, filt: RunFilter, *, before: tuple[int, str] | None, limit: int = 50
    ) -> tuple[list[RunView], tuple[int, str] | None]:
        """Runs newest first after the keyset cursor ``before`` = (requested_at_us, run_id), and
        the cursor of the next page (None on the last)."""
        where = msgspec.structs.replace(run_where(filt), before=before)
        lim = min(limit, MAX_PAGE)
        rows = await self.store.fetch(*run_queries.newest(where, lim + 1))
        items = [decode_row(RunView, r[0]) for r in rows[:lim]]
        more = len(rows) > lim and items
        return items, ((items[-1].requested_at_us, items[-1].run_id) if more else None)

    async def job_names(self) -> dict[str, str]:
        rows = await self.store.fetch(job_queries.NAMES)
        return {str(r[0]): str(r[1]) for r in rows}

    async def log_page(self, *, after: int, limit: int) -> list[Recorded]:
        """The global log after position ``after`` (keyset paging)."""
        out: list[Recorded] = []
        async for rec in self.store.read_all(from_position=after):
            out.append(rec)
            if len(out) >= min(limit, MAX_PAGE):
                break
        return out

    async def stream_page(self, stream: str, *, after: int, limit: int) -> list[Recorded]:
        """One stream's events with position > ``after``, oldest first, at most ``limit``."""
        recs = await self.store.read_stream(stream)
        return [r for r in recs if r.position > after][: min(limit, MAX_PAGE)]

    async def db_stats(self) -> dict[str, Any]:
        rows = await self.store.fetch(run_queries.COUNT_ALL)
        return {"runs": int(rows[0][0])}

    async def jobs_page(
        self, *, search: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[JobView], int]:
        """Jobs by name (case-insensitive substring ``search``), a page at ``offset``, and the
        number that match."""
        rows = await self.store.fetch(
            *job_queries.by_name(search, min(limit, MAX_PAGE), max(0, offset))
        )
        count = await self.store.fetch(*job_queries.matching(search))
        return [decode_row(JobView, r[0]) for r in rows], int(count[0][0])

    async def jobs_after(
        self, *, search: str = "", after: str | None = None, limit: int = 50
    ) -> tuple[list[JobView], str | None, int]:
        """Jobs by name (``search`` as in ``jobs_page``) after the job ``after`` (keyset:
        as fast on the last page as on the first), the id to continue after, and the count."""
        cursor: tuple[str, str] | None = None
        if after:
            rows = await self.store.fetch(job_queries.NAME, (after,))
            if rows:
                cursor = (str(rows[0][0]).lower(), after)
        lim = min(limit, MAX_PAGE)
        rows = await self.store.fetch(*job_queries.after_name(search, cursor, lim + 1))
        items = [decode_row(JobView, r[0]) for r in rows[:lim]]
        nxt = items[-1].job_id if len(rows) > lim and items else None
        count = await self.store.fetch(*job_queries.matching(search))
        return items, nxt, int(count[0][0])

    async def job_suggestions(self, search: str, *, limit: int = 15) -> list[tuple[str, str]]:
        """``(job_id, name)`` of the first jobs whose name contains ``search`` (type-ahead)."""
        rows = await self.store.fetch(*job_queries.suggestions(search, min(limit, 50)))
        return [(str(r[0]), str(r[1])) for r in rows]

    async def job_name(self, job_id: str) -> str | None:
        rows = await self.store.fetch(job_queries.NAME, (job_id,))
        return str(rows[0][0]) if rows else None

    async def log_newest(
        self,
        *,
        before: int | None = None,
        limit: int = 100,
        type_: str = "",
        stream: str = "",
    ) -> list[Recorded]:
        """The log newest first, keyset-paged by ``before``; ``type_`` exact, ``stream`` exact or
        a prefix ending in ``-`` (``run-`` for every run's events)."""
        rows = await self.store.fetch(
            *log_queries.newest(before, min(limit, MAX_PAGE), type_=type_, stream=stream)
        )
        return [decode_event_row(tuple(r)) for r in rows]
