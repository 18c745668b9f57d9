"""The costs view: runs, tokens and the CLI's cost estimate per (UTC day, job, model)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec

from events.envelope import Recorded
from events.runs import RunCancelled, RunFailed, RunSucceeded, RunTimedOut
from projections.base import Change, Table, View, simple_projection
from projections.runs import RUNS, RunView


class CostRow(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    job_id: str | None
    model: str | None
    runs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0


COSTS = Table(
    name="v_costs",
    row_type=CostRow,
    columns=(
        ("day", "TEXT"),
        ("job_id", "TEXT"),
        ("model", "TEXT"),
        ("runs", "INTEGER"),
        ("input_tokens", "INTEGER"),
        ("output_tokens", "INTEGER"),
        ("cache_creation_tokens", "INTEGER"),
        ("cache_read_tokens", "INTEGER"),
        ("cost_usd", "REAL"),
    ),
    extract=lambda r: (
        r.day,
        r.job_id,
        r.model,
        r.runs,
        r.input_tokens,
        r.output_tokens,
        r.cache_creation_tokens,
        r.cache_read_tokens,
        r.cost_usd,
    ),
    indexes=("day", "job_id, day", "model, day"),
)


def day_of(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC).date().isoformat()


def _finished(view: View, rec: Recorded) -> Iterable[Change]:
    """Runs' projection already folded the terminal event (it is registered first)."""
    run: RunView | None = view.get(RUNS.name, rec.event.run_id)  # type: ignore[union-attr]
    if run is None or run.version != rec.version or run.finished_at_us is None:
        return
    day = day_of(rec.recorded_at_us)
    key = f"{day}|{run.job_id or '-'}|{run.model or '-'}"
    cur: CostRow = view.get(COSTS.name, key) or CostRow(day=day, job_id=run.job_id, model=run.model)
    u = run.usage
    yield (
        COSTS.name,
        key,
        msgspec.structs.replace(
            cur,
            runs=cur.runs + 1,
            input_tokens=cur.input_tokens + u.input_tokens,
            output_tokens=cur.output_tokens + u.output_tokens,
            cache_creation_tokens=cur.cache_creation_tokens + u.cache_creation_input_tokens,
            cache_read_tokens=cur.cache_read_tokens + u.cache_read_input_tokens,
            cost_usd=cur.cost_usd + run.cost_usd,
        ),
    )


costs_projection = simple_projection(
    "costs",
    (COSTS,),
    {
        RunSucceeded: _finished,
        RunFailed: _finished,
        RunTimedOut: _finished,
        RunCancelled: _finished,
    },
)
