"""External servers for real: a stdio server imported from .mcp.json, and one over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.servers.discovery import discover_tools
from runner.servers.external import import_mcp_json
from runner.servers.invoke import invoke_tool
from runner.servers.launch import external_launch
from tests.runner.servers.conftest import free_port

pytestmark = pytest.mark.anyio

TOKEN = "ext-token-abcdef123456"

STDIO_SERVER = """
import os
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("ext")

@mcp.tool()
def token_length() -> int:
    \"\"\"Length of EXT_TOKEN, never its value.\"\"\"
    return len(os.environ.get("EXT_TOKEN", ""))

mcp.run("stdio")
"""

HTTP_SERVER = """
import sys
from mcp.server.mcpserver import MCPServer, Context
mcp = MCPServer("remote")

@mcp.tool()
def auth_length(ctx: Context) -> int:
    \"\"\"Length of the Authorization header the server received.\"\"\"
    return len((ctx.headers or {}).get("authorization", ""))

mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
"""


async def test_stdio_server_from_mcp_json(tmp_path: Path) -> None:
    script = tmp_path / "ext_server.py"
    script.write_text(STDIO_SERVER)
    doc = {
        "mcpServers": {
            "ext": {
                "command": sys.executable,
                "args": [str(script)],
                "env": {"EXT_TOKEN": "${EXT_TOKEN}"},
            }
        }
    }
    (tmp_path / ".mcp.json").write_text(json.dumps(doc))
    (server,) = import_mcp_json(tmp_path / ".mcp.json").servers
    launch = external_launch(server.name, server.config, {"EXT_TOKEN": TOKEN}, server.env)
    result = await invoke_tool(launch, "token_length")
    assert result.ok, result.error
    assert result.structured == {"result": len(TOKEN)}


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    script = tmp_path / "http_server.py"
    script.write_text(HTTP_SERVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_http_server_gets_its_header_credential(http_server: str) -> None:
    doc = {
        "mcpServers": {
            "remote": {
                "type": "http",
                "url": http_server,
                "headers": {"Authorization": "Bearer ${REMOTE_TOKEN}"},
            }
        }
    }
    (server,) = import_mcp_json(doc).servers
    launch = external_launch(server.name, server.config, {"REMOTE_TOKEN": TOKEN}, server.env)
    found = await discover_tools(launch)
    assert found.ok, found.error
    assert [t.name for t in found.tools] == ["auth_length"]
    result = await invoke_tool(launch, "auth_length")
    assert result.ok, result.error
    assert result.structured == {"result": len("Bearer " + TOKEN)}


async def test_unreachable_http_server_is_a_readable_error() -> None:
    doc = {"mcpServers": {"gone": {"type": "http", "url": f"http://127.0.0.1:{free_port()}/mcp"}}}
    (server,) = import_mcp_json(doc).servers
    found = await discover_tools(external_launch(server.name, server.config, {}), time_limit=10)
    assert not found.ok
    assert "127.0.0.1" in (found.error or "")
