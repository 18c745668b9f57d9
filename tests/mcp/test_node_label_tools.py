"""MCP job and quick-run tools take a described ``node_label`` and refuse hostile ones."""

from __future__ import annotations

import pytest
from mcp import Client

from runner.app import Runner
from tests.mcp.scenario import ok
from web.mcp.server import build_mcp

pytestmark = pytest.mark.anyio


async def test_node_label_through_mcp(runner: Runner) -> None:
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        for name in ("create_job", "update_job", "quick_run"):
            prop = tools[name].input_schema["properties"]["node_label"]
            assert "label" in prop.get("description", ""), name
        made = await ok(c, "create_job", {"name": "n", "prompt": "p", "node_label": "gpu"})
        assert made["job"]["node_label"] == "gpu"
        job_id = made["job"]["job_id"]
        cleared = await ok(c, "update_job", {"job_id": job_id, "node_label": ""})
        assert cleared["job"]["node_label"] is None
        run = await ok(c, "quick_run", {"prompt": "p", "node_label": "eu"})
        assert run["run"]["node_label"] == "eu"
        for bad in ("gpu\x1b[31m", "x" * 64, "a\nb"):
            res = await c.call_tool("create_job", {"name": "m", "prompt": "p", "node_label": bad})
            assert res.is_error and "node_label" in str(res.content[0]), bad
