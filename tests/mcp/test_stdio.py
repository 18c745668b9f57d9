"""``runner mcp`` as a subprocess, driven by the real MCP client over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import open_runner
from tests.mcp.scenario import exercise, ok

pytestmark = pytest.mark.anyio
RUNNER = str(Path(sys.executable).parent / "runner")


def stdio_params(data_dir: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["RUNNER_DATA_DIR"] = str(data_dir)
    return StdioServerParameters(command=RUNNER, args=["mcp"], env=env)


async def test_every_tool_over_stdio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with Client(stdio_params(data), mode="legacy") as c:
        await exercise(c)
        made = await ok(c, "create_job", {"name": "shared", "prompt": "hello"})
        run = await ok(c, "trigger_job", {"job_id": made["job"]["job_id"]})
        # the service process sees what the stdio process wrote (same database file)
        async with open_runner(data) as runner:
            seen = await runner.queries.run(run["run_id"])
            assert seen.state == "requested" and seen.trigger == "mcp"
            await runner.runs.cancel(seen.run_id, actor="test")
        waited = await ok(c, "wait_for_run", {"run_id": run["run_id"], "timeout_seconds": 5})
        assert waited["run"]["state"] == "cancelled"
        health = await ok(c, "get_health")
        assert health["mode"] == "stdio"
