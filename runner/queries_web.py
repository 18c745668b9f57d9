"""Reads the dashboard needs beyond ``runner.queries``: failures, chart series, the raw log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from events.codec import decode_row as decode_event_row
from events.envelope import Recorded
from events.sqlite_schema import EVENT_COLUMNS
from events.sqlite_store import SQLiteEventStore
from projections import JobView, RunView
from projections.read import decode_row
from runner.queries import MAX_PAGE, RunFilter

FAILED_STATES = ("failed", "timed_out", "crashed")


class WebQueries:
    def __init__(self, store: SQLiteEventStore) -> None:
        self.store = store

    async def failures_since(self, since_us: int, *, limit: int = 20) -> tuple[list[RunView], int]:
        """Failed, timed-out and crashed runs requested since ``since_us`` (newest first)."""
        marks = ",".join("?" * len(FAILED_STATES))
        rows = await self.store.query(
            f"SELECT doc FROM v_runs WHERE state IN ({marks}) AND requested_at >= ? "
            "ORDER BY requested_at DESC LIMIT ?",
            (*FAILED_STATES, since_us, min(limit, MAX_PAGE)),
        )
        count = await self.store.query(
            f"SELECT count(*) FROM v_runs WHERE state IN ({marks}) AND requested_at >= ?",
            (*FAILED_STATES, since_us),
        )
        return [decode_row(RunView, r[0]) for r in rows], int(count[0][0])

    async def cost_series(self, *, days: int, by: str) -> tuple[list[str], dict[str, list[float]]]:
        """Per-day cost for the last ``days`` UTC days, one series per job or per model."""
        column = "job_id" if by == "job" else "model"
        end = dt.datetime.now(dt.UTC).date()
        start = end - dt.timedelta(days=days - 1)
        labels = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
        rows = await self.store.query(
            f"SELECT day, {column}, sum(cost_usd) FROM v_costs WHERE day >= ? AND day <= ? "
            f"GROUP BY day, {column}",
            (start.isoformat(), end.isoformat()),
        )
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
        rows = await self.store.query(
            "SELECT date(finished_at / 1000000, 'unixepoch'), CASE "
            "WHEN job_id IS NOT NULL THEN 'job:' || job_id "
            "WHEN webhook_id IS NOT NULL THEN 'webhook:' || webhook_id "
            "ELSE 'trigger:' || trigger END, sum(cost_usd) "
            "FROM v_runs WHERE finished_at >= ? AND cost_usd > 0 GROUP BY 1, 2",
            (since,),
        )
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
        clauses: list[str] = []
        params: list[Any] = []
        for col, val in (("job_id", filt.job_id), ("state", filt.state),
                         ("trigger", filt.trigger), ("webhook_id", filt.webhook_id)):  # fmt: skip
            if val:
                clauses.append(f"{col} = ?")
                params.append(val)
        if filt.since_us is not None:
            clauses.append("requested_at >= ?")
            params.append(filt.since_us)
        if filt.until_us is not None:
            clauses.append("requested_at < ?")
            params.append(filt.until_us)
        if before is not None:
            clauses.append("(requested_at < ? OR (requested_at = ? AND k < ?))")
            params += [before[0], before[0], before[1]]
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        lim = min(limit, MAX_PAGE)
        rows = await self.store.query(
            f"SELECT doc FROM v_runs {where} ORDER BY requested_at DESC, k DESC LIMIT ?",
            (*params, lim + 1),
        )
        items = [decode_row(RunView, r[0]) for r in rows[:lim]]
        more = len(rows) > lim and items
        return items, ((items[-1].requested_at_us, items[-1].run_id) if more else None)

    async def job_names(self) -> dict[str, str]:
        rows = await self.store.query("SELECT k, name FROM v_jobs")
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
        rows = await self.store.query("SELECT count(*) FROM v_runs")
        return {"runs": int(rows[0][0])}

    async def jobs_page(
        self, *, search: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[JobView], int]:
        """Jobs by name (case-insensitive substring ``search``), a page at ``offset``, and the
        number that match."""
        where, params = _name_like(search)
        rows = await self.store.query(
            f"SELECT doc FROM v_jobs {where} ORDER BY name COLLATE NOCASE, k LIMIT ? OFFSET ?",
            (*params, min(limit, MAX_PAGE), max(0, offset)),
        )
        count = await self.store.query(f"SELECT count(*) FROM v_jobs {where}", params)
        return [decode_row(JobView, r[0]) for r in rows], int(count[0][0])

    async def job_suggestions(self, search: str, *, limit: int = 15) -> list[tuple[str, str]]:
        """``(job_id, name)`` of the first jobs whose name contains ``search`` (type-ahead)."""
        where, params = _name_like(search)
        rows = await self.store.query(
            f"SELECT k, name FROM v_jobs {where} ORDER BY name COLLATE NOCASE, k LIMIT ?",
            (*params, min(limit, 50)),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def job_name(self, job_id: str) -> str | None:
        rows = await self.store.query("SELECT name FROM v_jobs WHERE k = ?", (job_id,))
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
        clauses = ["position < ?"]
        params: list[Any] = [before if before is not None else 2**62]
        if type_:
            clauses.append("type = ?")
            params.append(type_)
        if stream.endswith("-"):
            clauses.append("stream >= ? AND stream < ?")
            params += [stream, stream[:-1] + "."]  # "." sorts right after "-"
        elif stream:
            clauses.append("stream = ?")
            params.append(stream)
        rows = await self.store.query(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
            "ORDER BY position DESC LIMIT ?",
            (*params, min(limit, MAX_PAGE)),
        )
        return [decode_event_row(tuple(r)) for r in rows]


def _name_like(search: str) -> tuple[str, tuple[str, ...]]:
    term = search.strip()[:200]
    if not term:
        return "", ()
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "WHERE name LIKE ? ESCAPE '\\'", (f"%{escaped}%",)
