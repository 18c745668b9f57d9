"""The relay's metered calls folded per run and per (day, job, model), reconciled with the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from events import SQLiteEventStore
from events.relay import ModelCallMetered, ModelCallRefused
from events.runs import RunRequested, RunResult, RunSpec, RunSucceeded
from projections.registry import make_projector
from runner.queries import Queries

pytestmark = [pytest.mark.anyio]


def call(n: int, cost: float | None, model: str = "claude-sonnet-4-5") -> ModelCallMetered:
    return ModelCallMetered(
        run_id="r1",
        job_id="j1",
        call_id=f"c{n}",
        model=model,
        status=200,
        input_tokens=100,
        output_tokens=10,
        cost_usd=cost,
        charged_usd=cost if cost is not None else 0.5,
        max_tokens_capped=5 if n == 2 else None,
    )


async def test_spend_per_run_and_day_and_the_difference(tmp_path: Path) -> None:
    async with SQLiteEventStore.open(tmp_path / "e.db", projector=make_projector()) as store:
        q = Queries(store)
        spec = RunSpec(prompt="p", budget_usd=1.0)
        await store.append(
            "run-r1", [RunRequested(run_id="r1", job_id="j1", trigger="manual", spec=spec)]
        )
        await store.append("run-r1", [call(1, 0.002), call(2, 0.003)])
        result = RunResult(cost_usd=0.004)
        await store.append("run-r1", [RunSucceeded(run_id="r1", result=result)])
        s = await q.run_spend("r1")
        assert s["calls"] == 2 and s["cost_usd"] == pytest.approx(0.005)
        assert s["cli_cost_usd"] == pytest.approx(0.004)
        assert s["difference_usd"] == pytest.approx(0.001)  # shown: they disagree
        assert s["capped_calls"] == 1 and s["budget_left_usd"] == pytest.approx(0.995)
        # an unknown price is never zero: the cost is marked unknown, budgets charged a bound
        await store.append("run-r1", [call(3, None, "mystery-model")])
        await store.append(
            "run-r1", [ModelCallRefused(reason="budget_run", detail="x", run_id="r1")]
        )
        s = await q.run_spend("r1")
        assert not s["cost_known"] and s["unknown_cost_calls"] == 1
        assert s["difference_usd"] is None and s["charged_usd"] == pytest.approx(0.505)
        assert s["refused"] == "budget_run"
        today = await q.spend_today()
        assert today["metered_cost_usd"] == pytest.approx(0.005)
        assert today["charged_usd"] == pytest.approx(0.505)
        rows = await store.query("SELECT model, cost_usd FROM v_spend ORDER BY model")
        assert [(r[0], round(r[1], 6)) for r in rows] == [
            ("claude-sonnet-4-5", 0.005),
            ("mystery-model", 0.0),
        ]
