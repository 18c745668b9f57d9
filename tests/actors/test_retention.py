"""Retention: finished runs older than ``output_retention_days`` lose their output, by policy,
recorded; runs still running and runs within the window keep theirs; the audit stays clean."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from actors.retention import retention_pass
from events.chain import KEY_FILE, load_key
from events.ids import new_id
from events.integrity import ContentErased
from events.runs import RunClaimed, RunOutput, RunRequested, RunSpec, RunStarted, RunSucceeded
from projections import ALL_PROJECTIONS, audit
from runner.app import Runner
from runner.config import load_config

pytestmark = pytest.mark.anyio


async def _run(r: Runner, *, finish: bool) -> str:
    rid = new_id("run")
    await r.runs.request(
        RunRequested(run_id=rid, job_id=None, trigger="manual", spec=RunSpec(prompt="p"))
    )
    events: list[object] = [
        RunClaimed(run_id=rid, claimer="t"),
        RunStarted(run_id=rid, workspace="/tmp/w"),
        RunOutput(run_id=rid, seq=0, kind="text", text="old output"),
    ]
    if finish:
        events.append(RunSucceeded(run_id=rid, result_text="old result"))
    await r.store.append(f"run-{rid}", events)  # type: ignore[arg-type]
    return rid


async def test_retention_erases_old_finished_runs_only(tmp_path: Path) -> None:
    config = load_config({"RUNNER_DATA_DIR": str(tmp_path)})
    async with Runner.open(config) as r:
        assert await retention_pass(r.store) == 0  # no policy: nothing happens
        old = await _run(r, finish=True)
        running = await _run(r, finish=False)
        await r.settings.change({"output_retention_days": 0.00001}, actor="test")  # ~0.9 s
        with anyio.fail_after(30):
            while await retention_pass(r.store) == 0:
                await anyio.sleep(0.3)
        await r.settings.change({"output_retention_days": 1}, actor="test")
        fresh = await _run(r, finish=True)
        assert await retention_pass(r.store) == 0  # within the window
        last = (await r.store.read_stream(f"run-{old}"))[-1]
        assert isinstance(last.event, ContentErased)
        assert last.event.by == "retention" and last.event.policy == "output_retention_days=1e-05"
        assert (await r.queries.run(old)).result_text == "[erased]"
        for rid in (running, fresh):
            assert not any(
                isinstance(rec.event, ContentErased)
                for rec in await r.store.read_stream(f"run-{rid}")
            )
    report = audit(
        tmp_path / "runner.db",
        ALL_PROJECTIONS,
        tmp_path / "scratch.db",
        load_key(tmp_path / KEY_FILE, create=False),
    )
    assert report.ok and report.erased == 2, report.issues
