"""Reads of the cost views (``v_costs``, ``v_spend``)."""

from __future__ import annotations

from events.views import Query

ROWS = Query("costs.rows", "SELECT doc FROM v_costs WHERE day >= ? AND day <= ? ORDER BY day")
TOTALS = Query(
    "costs.totals",
    "SELECT coalesce(sum(runs), 0), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), "
    "coalesce(sum(output_tokens), 0), coalesce(sum(cache_creation_tokens), 0), "
    "coalesce(sum(cache_read_tokens), 0) FROM v_costs",
)
TOTALS_SINCE = Query(
    "costs.totals_since",
    "SELECT coalesce(sum(runs), 0), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0), "
    "coalesce(sum(output_tokens), 0), coalesce(sum(cache_creation_tokens), 0), "
    "coalesce(sum(cache_read_tokens), 0) FROM v_costs WHERE day >= ?",
)
#: The CLI-estimated cost of one UTC day.
ESTIMATED_ON = Query(
    "costs.estimated_on", "SELECT coalesce(sum(cost_usd), 0) FROM v_costs WHERE day = ?"
)
#: What the relay charged on one UTC day.
CHARGED_ON = Query(
    "costs.charged_on", "SELECT coalesce(sum(charged_usd), 0) FROM v_spend WHERE day = ?"
)
#: Metered cost and charge of one UTC day.
SPEND_ON = Query(
    "costs.spend_on",
    "SELECT coalesce(sum(cost_usd), 0), coalesce(sum(charged_usd), 0) FROM v_spend WHERE day = ?",
)
#: Charged per job on one UTC day (the relay's ledger at start).
CHARGED_PER_JOB_ON = Query(
    "costs.charged_per_job_on",
    "SELECT job_id, coalesce(sum(charged_usd), 0) FROM v_spend WHERE day = ? GROUP BY job_id",
)

_GROUPS = {"day": "day", "job": "job_id", "model": "model"}


def grouped(group_by: str) -> Query | None:
    """Totals per ``day``, ``job`` or ``model`` between two days (None: unknown grouping)."""
    column = _GROUPS.get(group_by)
    if column is None:
        return None
    return Query(
        f"costs.by_{group_by}",
        f"SELECT {column}, sum(runs), sum(input_tokens), sum(output_tokens), "
        "sum(cache_creation_tokens), sum(cache_read_tokens), sum(cost_usd) FROM v_costs "
        f"WHERE day >= ? AND day <= ? GROUP BY {column} ORDER BY {column}",
    )


def series(by: str) -> Query:
    """Cost per (day, job or model) between two days."""
    column = "job_id" if by == "job" else "model"
    return Query(
        f"costs.series_{column}",
        f"SELECT day, {column}, sum(cost_usd) FROM v_costs WHERE day >= ? AND day <= ? "
        f"GROUP BY day, {column}",
    )
