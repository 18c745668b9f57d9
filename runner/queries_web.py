"""Reads the dashboard needs beyond ``runner.queries``: failures, chart series, the raw log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from events.envelope import Recorded
from events.sqlite_store import SQLiteEventStore
from projections import RunView
from projections.read import decode_row
from runner.queries import MAX_PAGE

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
            name = str(key) if key else ("ad hoc" if by == "job" else "unknown")
            series.setdefault(name, [0.0] * days)[index[day]] += float(cost or 0.0)
        return labels, series

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
