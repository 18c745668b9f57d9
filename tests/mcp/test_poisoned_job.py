"""``list_jobs`` and ``get_job`` keep working with a never-firing job in the log, and show why
it is broken; ``create_job`` refuses such a schedule naming the field."""

from __future__ import annotations

import pytest
from mcp import Client

from events.envelope import Meta
from events.ids import job_stream
from events.jobs import JobCreated, JobScheduleBroken, JobSpec
from runner.app import Runner
from tests.mcp.scenario import ok
from web.mcp.server import build_mcp

pytestmark = pytest.mark.anyio


async def test_list_jobs_with_a_poisoned_job(runner: Runner) -> None:
    spec = JobSpec(name="feb 30", prompt="p", cron="0 0 30 2 *")
    await runner.store.append(job_stream("feb30"), [JobCreated(job_id="feb30", spec=spec)],
                              meta=Meta(actor="old"))  # fmt: skip
    await runner.store.append(
        job_stream("feb30"), [JobScheduleBroken(job_id="feb30", error="never fires")]
    )
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        listed = await ok(c, "list_jobs", {})
        (job,) = [j for j in listed["jobs"] if j["job_id"] == "feb30"]
        assert job["next_run_at"] is None and job["schedule_error"] == "never fires"
        refused = await c.call_tool("create_job", {"name": "n", "prompt": "p",
                                                   "cron": "0 0 31 4 *"})  # fmt: skip
        assert refused.is_error and "never fires" in str(refused.content[0])
