"""The ``cancel_runs`` MCP tool: bulk cancel by job, refused without a filter, and a storage
fault is an actionable tool error rather than an internal one."""

from __future__ import annotations

import pytest
from mcp import Client

from runner.app import Runner
from tests.helpers import sqlite_of
from tests.mcp.scenario import ok
from web.mcp.server import build_mcp

pytestmark = pytest.mark.anyio


async def test_cancel_runs_by_job(runner: Runner) -> None:
    job, _ = await runner.jobs.create({"name": "j", "prompt": "p", "overlap": "allow"})
    runs = [await runner.runs.request_job(job.job_id) for _ in range(4)]
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        out = await ok(c, "cancel_runs", {"job_id": job.job_id, "reason": "flood"})
        assert out["cancelled"] == 4
        refused = await c.call_tool("cancel_runs", {})
        assert refused.is_error and "name a job" in str(refused.content[0])
    assert {(await runner.queries.run(r.run_id)).state for r in runs} == {"cancelled"}


async def test_a_full_disk_is_an_actionable_tool_error(runner: Runner) -> None:
    conn = sqlite_of(runner.store)._journal.conn
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        res = await c.call_tool("create_job", {"name": "n", "prompt": "p " * 5000})
        assert res.is_error
        text = str(res.content[0])
        assert "storage unavailable (disk full)" in text and "retry in" in text
    conn.execute("PRAGMA max_page_count = 1073741823")
