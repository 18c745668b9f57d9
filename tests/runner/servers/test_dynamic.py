"""Dynamic servers end to end: code -> file -> real subprocess -> real MCP client."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.servers.code import analyse_code
from runner.servers.discovery import discover_tools
from runner.servers.invoke import invoke_tool
from runner.servers.launch import StdioLaunch, dynamic_launch
from runner.servers.materialize import write_server

pytestmark = pytest.mark.anyio

SECRET = "fb-secret-value-0123456789"

POSTER = '''
import os
from pathlib import Path
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("poster")

@mcp.tool()
def post(message: str) -> str:
    """Post a message to the page."""
    token = os.environ.get("FB_PAGE_TOKEN")
    return f"posted {len(message)} chars with a token of length {len(token or '')}"

@mcp.tool()
def token_info() -> dict:
    """Whether the token is set (never its value), and where DATA_DIR is."""
    token = os.getenv("FB_PAGE_TOKEN", "")
    data = Path(os.environ["DATA_DIR"])
    (data / "seen.txt").write_text("ok")
    return {"set": bool(token), "length": len(token), "data_dir_ok": data.is_dir(),
            "others": sorted(k for k in os.environ if k.startswith("RUNNER"))}

@mcp.tool()
def leak() -> str:
    """A badly written tool that echoes its secret."""
    return "the token is " + os.environ["FB_PAGE_TOKEN"]

mcp.run("stdio")
'''


async def test_create_discover_and_invoke_with_credential(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RUNNER_SECRET_KEY", "must-not-reach-the-server")
    code, env = analyse_code(POSTER)
    assert [(e.name, e.required, e.sensitive) for e in env] == [("FB_PAGE_TOKEN", True, True)]
    write_server(tmp_path, "poster", code)
    creds = {"FB_PAGE_TOKEN": SECRET}
    launch = dynamic_launch(tmp_path, "poster", creds, env)

    found = await discover_tools(launch)
    assert found.ok, found.error
    assert [t.name for t in found.tools] == ["post", "token_info", "leak"]
    post = found.tools[0]
    assert post.description == "Post a message to the page."
    assert post.input_schema["properties"]["message"]["type"] == "string"

    result = await invoke_tool(launch, "token_info")
    assert result.ok, result.error
    assert result.structured == {
        "set": True,
        "length": len(SECRET),
        "data_dir_ok": True,
        "others": [],  # the service's own environment stays out
    }
    assert (tmp_path / "servers" / "poster" / "data" / "seen.txt").exists()
    assert SECRET not in result.text


async def test_output_is_redacted_and_tool_errors_reported(tmp_path: Path) -> None:
    code, env = analyse_code(POSTER)
    write_server(tmp_path, "poster", code)
    launch = dynamic_launch(tmp_path, "poster", {"FB_PAGE_TOKEN": SECRET}, env)
    leaked = await invoke_tool(launch, "leak")
    assert leaked.ok
    assert SECRET not in leaked.text and "********" in leaked.text
    assert SECRET not in leaked.summary()
    missing = await invoke_tool(launch, "no_such_tool")
    assert not missing.ok and missing.is_error
    assert "no_such_tool" in missing.text


async def test_server_with_syntax_error_reports_line(tmp_path: Path) -> None:
    # Normally refused by analyse_code; a file broken on disk still fails readably.
    write_server(tmp_path, "broken", "import os\n\ndef tool(:\n    pass\n")
    found = await discover_tools(dynamic_launch(tmp_path, "broken", {}))
    assert not found.ok and found.tools == ()
    assert "SyntaxError" in (found.error or "")
    assert "line 3" in (found.error or "")


async def test_server_crashing_on_start_shows_why(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "print('connecting to the API', file=sys.stderr)\n"
        "raise RuntimeError('FB_PAGE_TOKEN is not valid: ' + os.environ['FB_PAGE_TOKEN'])\n"
    )
    write_server(tmp_path, "crashy", code)
    launch = dynamic_launch(tmp_path, "crashy", {"FB_PAGE_TOKEN": SECRET})
    found = await discover_tools(launch)
    assert not found.ok
    error = found.error or ""
    assert "exited before answering" in error
    assert "RuntimeError: FB_PAGE_TOKEN is not valid" in error
    assert "connecting to the API" in error
    assert SECRET not in error  # stderr is redacted too


async def test_unknown_command_and_timeout() -> None:
    found = await discover_tools(StdioLaunch(command="/nonexistent/mcp-server"))
    assert not found.ok and "command not found" in (found.error or "")
    # `sleep` never answers the handshake: the time limit turns that into an error.
    slow = await discover_tools(StdioLaunch(command="sleep", args=("30",)), time_limit=0.5)
    assert not slow.ok and "within 0.5 s" in (slow.error or "")


async def test_unmaterialised_server_says_so(tmp_path: Path) -> None:
    found = await discover_tools(dynamic_launch(tmp_path, "ghost", {}))
    assert not found.ok and "not materialised" in (found.error or "")
