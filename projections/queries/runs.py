"""Reads of the runs view (``v_runs``) and run output (``v_run_output``)."""

from __future__ import annotations

from typing import Any

import msgspec

from events.views import Query
from projections.queries.common import in_marks, where_all

ACTIVE = Query(
    "runs.active",
    "SELECT doc FROM v_runs WHERE state IN ('requested', 'claimed', 'running') "
    "ORDER BY requested_at, k",
)
RUNNING = Query("runs.running", "SELECT doc FROM v_runs WHERE state IN ('claimed', 'running')")
OUTPUT_COUNT = Query(
    "runs.output_count",
    "SELECT count(*) FROM v_run_output WHERE run_id = ? AND kind NOT IN ('denied', 'truncated')",
)
OUTPUT_AFTER = Query(
    "runs.output_after",
    "SELECT doc FROM v_run_output WHERE run_id = ? AND position > ? ORDER BY position LIMIT ?",
)
COUNT_ALL = Query("runs.count", "SELECT count(*) FROM v_runs")
#: Per UTC day the run finished and what started it, the cost (the dashboard's chart).
COST_BY_SOURCE = Query(
    "runs.cost_by_source",
    "SELECT date(finished_at / 1000000, 'unixepoch'), CASE "
    "WHEN job_id IS NOT NULL THEN 'job:' || job_id "
    "WHEN webhook_id IS NOT NULL THEN 'webhook:' || webhook_id "
    "ELSE 'trigger:' || trigger END, sum(cost_usd) "
    "FROM v_runs WHERE finished_at >= ? AND cost_usd > 0 GROUP BY 1, 2",
    dialects=(
        (
            "postgresql",
            "SELECT to_char(to_timestamp(finished_at / 1000000) AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD'), CASE "
            "WHEN job_id IS NOT NULL THEN 'job:' || job_id "
            "WHEN webhook_id IS NOT NULL THEN 'webhook:' || webhook_id "
            "ELSE 'trigger:' || trigger END, sum(cost_usd) "
            "FROM v_runs WHERE finished_at >= ? AND cost_usd > 0 GROUP BY 1, 2",
        ),
    ),
)


class RunWhere(msgspec.Struct, kw_only=True):
    """Filters on runs (each optional): exact job, state, trigger, webhook; a requested-at
    range; ``states`` (any of); a keyset cursor ``before`` = (requested_at_us, run_id)."""

    job_id: str | None = None
    state: str | None = None
    trigger: str | None = None
    webhook_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    states: tuple[str, ...] = ()
    before: tuple[int, str] | None = None
    after: tuple[int, str] | None = None


def _where(f: RunWhere) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for col, val in (("job_id", f.job_id), ("state", f.state), ("trigger", f.trigger),
                     ("webhook_id", f.webhook_id)):  # fmt: skip
        if val:
            clauses.append(f"{col} = ?")
            params.append(val)
    if f.states:
        clauses.append(f"state IN ({in_marks(len(f.states))})")
        params += f.states
    if f.since_us is not None:
        clauses.append("requested_at >= ?")
        params.append(f.since_us)
    if f.until_us is not None:
        clauses.append("requested_at < ?")
        params.append(f.until_us)
    # Keyset conditions in the form an index on requested_at can seek to (a range on the
    # column itself, the tie broken by the key), not ``a < ? OR (a = ? AND k < ?)``.
    if f.before is not None:
        clauses.append("requested_at <= ? AND (requested_at < ? OR k < ?)")
        params += [f.before[0], f.before[0], f.before[1]]
    if f.after is not None:
        clauses.append("requested_at >= ? AND (requested_at > ? OR k > ?)")
        params += [f.after[0], f.after[0], f.after[1]]
    return (f"WHERE {where_all(clauses)} " if clauses else ""), params


def newest(f: RunWhere, limit: int, offset: int = 0) -> tuple[Query, list[Any]]:
    """Runs matching ``f``, newest first (``requested_at``, then id, descending)."""
    where, params = _where(f)
    sql = f"SELECT doc FROM v_runs {where}ORDER BY requested_at DESC, k DESC LIMIT ?"
    params.append(limit)
    if offset:
        sql += " OFFSET ?"
        params.append(offset)
    return Query("runs.newest", sql), params


def oldest(f: RunWhere, limit: int) -> tuple[Query, list[Any]]:
    """Runs matching ``f``, oldest first (``requested_at``, then id)."""
    where, params = _where(f)
    sql = f"SELECT doc FROM v_runs {where}ORDER BY requested_at, k LIMIT ?"
    return Query("runs.oldest", sql), [*params, limit]


def counted(f: RunWhere) -> tuple[Query, list[Any]]:
    """How many runs match ``f`` (the cursor fields are ignored)."""
    where, params = _where(msgspec.structs.replace(f, before=None, after=None))
    return Query("runs.counted", f"SELECT count(*) FROM v_runs {where}"), params


def states_of(run_ids: list[str]) -> tuple[Query, list[Any]]:
    """``(run_id, state)`` of each run in ``run_ids`` (unknown ids are left out)."""
    sql = f"SELECT k, state FROM v_runs WHERE k IN ({in_marks(len(run_ids))})"
    return Query("runs.states_of", sql), list(run_ids)


def erasable(cutoff_us: int, states: tuple[str, ...], limit: int) -> tuple[Query, list[Any]]:
    """Finished runs older than ``cutoff_us`` whose output/result is not erased yet."""
    sql = (
        "SELECT r.k FROM v_runs r WHERE r.finished_at IS NOT NULL AND r.finished_at < ? "
        f"AND r.state IN ({in_marks(len(states))}) AND EXISTS ("
        "SELECT 1 FROM events e WHERE e.stream = 'run-' || r.k "
        "AND e.type IN ('RunOutput', 'RunSucceeded') "
        "AND e.position NOT IN (SELECT position FROM erased)) LIMIT ?"
    )
    return Query("runs.erasable", sql), [cutoff_us, *states, limit]
