"""The costs views: the CLI's estimate per (UTC day, job, model) at each run's end, and the
model relay's metered spend per call, folded per (UTC day, job, model) and per run.

``v_spend`` and ``v_run_spend`` come from ``ModelCallMetered`` (the relay's count, priced from the
project's table); ``v_run_spend`` also keeps the CLI's own ``total_cost_usd`` of the run, so the
two can be reconciled (``difference_usd``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from events.envelope import Recorded
from events.relay import ModelCallMetered, ModelCallRefused
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


class MeteredTotals(msgspec.Struct, frozen=True, kw_only=True):
    """The sums of metered model calls both spend views keep."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    """Sum of the calls whose cost is known."""
    unknown_cost_calls: int = 0
    """Calls with no price (unknown model or feature): never counted as free."""
    charged_usd: float = 0.0
    """What budgets counted: known costs plus worst-case bounds of the unknown ones."""


class SpendRow(MeteredTotals, frozen=True, kw_only=True):
    """Metered model calls of one (UTC day, job, model)."""

    day: str
    job_id: str | None
    model: str


class RunSpend(MeteredTotals, frozen=True, kw_only=True):
    """One run's spend as the relay metered it, next to the CLI's own estimate."""

    run_id: str
    job_id: str | None = None
    day: str = ""
    partial_calls: int = 0
    capped_calls: int = 0
    refused: str | None = None
    """The reason of the last refused call (budget, run ended)."""
    cli_cost_usd: float | None = None
    """The CLI's ``total_cost_usd`` from the run's terminal event."""

    @property
    def difference_usd(self) -> float | None:
        """Relay minus CLI when both are known and they disagree by more than rounding."""
        if self.cli_cost_usd is None or self.unknown_cost_calls:
            return None
        diff = self.cost_usd - self.cli_cost_usd
        return round(diff, 6) if abs(diff) > 5e-7 else None


SPEND = Table(
    name="v_spend",
    row_type=SpendRow,
    columns=(
        ("day", "TEXT"),
        ("job_id", "TEXT"),
        ("model", "TEXT"),
        ("cost_usd", "REAL"),
        ("charged_usd", "REAL"),
    ),
    extract=lambda r: (r.day, r.job_id, r.model, r.cost_usd, r.charged_usd),
    indexes=("day", "job_id, day"),
)
RUN_SPEND = Table(
    name="v_run_spend",
    row_type=RunSpend,
    columns=(("job_id", "TEXT"), ("day", "TEXT")),
    extract=lambda r: (r.job_id, r.day),
    indexes=("job_id, day",),
    memory=True,
)


Totals = TypeVar("Totals", SpendRow, RunSpend)


def _plus_call(row: Totals, ev: ModelCallMetered, **more: Any) -> Totals:
    """``row`` with one more metered call added to its totals (and ``more`` fields set)."""
    return msgspec.structs.replace(
        row,
        calls=row.calls + 1,
        input_tokens=row.input_tokens + ev.input_tokens,
        output_tokens=row.output_tokens + ev.output_tokens,
        cache_creation_tokens=row.cache_creation_tokens + ev.cache_creation_input_tokens,
        cache_read_tokens=row.cache_read_tokens + ev.cache_read_input_tokens,
        cost_usd=row.cost_usd + (ev.cost_usd or 0.0),
        unknown_cost_calls=row.unknown_cost_calls + (0 if ev.cost_usd is not None else 1),
        charged_usd=row.charged_usd + ev.charged_usd,
        **more,
    )


def _metered(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ModelCallMetered)
    day = day_of(rec.recorded_at_us)
    key = f"{day}|{ev.job_id or '-'}|{ev.model}"
    cur: SpendRow = view.get(SPEND.name, key) or SpendRow(day=day, job_id=ev.job_id, model=ev.model)
    yield (SPEND.name, key, _plus_call(cur, ev))
    run: RunSpend = view.get(RUN_SPEND.name, ev.run_id) or RunSpend(
        run_id=ev.run_id, job_id=ev.job_id, day=day
    )
    more = {
        "partial_calls": run.partial_calls + int(ev.partial),
        "capped_calls": run.capped_calls + int(ev.max_tokens_capped is not None),
    }
    yield (RUN_SPEND.name, ev.run_id, _plus_call(run, ev, **more))


def _refused(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, ModelCallRefused)
    if not ev.run_id:
        return
    run: RunSpend = view.get(RUN_SPEND.name, ev.run_id) or RunSpend(
        run_id=ev.run_id, job_id=ev.job_id, day=day_of(rec.recorded_at_us)
    )
    yield (RUN_SPEND.name, ev.run_id, msgspec.structs.replace(run, refused=ev.reason))


def _cli_cost(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    result = getattr(ev, "result", None)
    run_id: str = getattr(ev, "run_id", "")
    run: RunSpend | None = view.get(RUN_SPEND.name, run_id)
    if run is not None and result is not None:
        yield (RUN_SPEND.name, run_id, msgspec.structs.replace(run, cli_cost_usd=result.cost_usd))


def _terminal(view: View, rec: Recorded) -> Iterable[Change]:
    yield from _finished(view, rec)
    yield from _cli_cost(view, rec)


costs_projection = simple_projection(
    "costs",
    (COSTS, SPEND, RUN_SPEND),
    {
        RunSucceeded: _terminal,
        RunFailed: _terminal,
        RunTimedOut: _terminal,
        RunCancelled: _terminal,
        ModelCallMetered: _metered,
        ModelCallRefused: _refused,
    },
)
