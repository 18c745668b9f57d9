"""Every tool through the real MCP client, in-process (fast; the transports have their own)."""

from __future__ import annotations

import pytest
from mcp import Client

from runner.app import Runner
from tests.mcp.scenario import exercise, ok
from web.mcp.server import build_mcp

pytestmark = pytest.mark.anyio


async def test_every_tool_in_process(runner: Runner) -> None:
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        ids = await exercise(c)
    assert ids["job_id"].startswith("job_")


async def test_tool_name_normalisation_is_reported(runner: Runner) -> None:
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        res = await c.call_tool("create_job", {"name": "n", "prompt": "p", "tools": ["memory:get"]})
        assert res.is_error  # unknown server: says which servers exist
        assert "unknown MCP server 'memory'" in str(res.content[0])
        await runner.servers.seed_builtins()
        made = await ok(c, "create_job", {"name": "n", "prompt": "p", "tools": ["memory:get"]})
        assert made["job"]["tools"] == ["mcp__memory__get"]
        assert made["job"]["mcp_servers"] == ["memory"]
        assert any("normalized tool 'memory:get'" in w for w in made["warnings"])
        creds = await ok(c, "get_server_credentials", {"server_name": "memory"})
        assert creds["credentials_ok"] is True
