"""One full tool-server journey against real processes, shared by the journey and leak tests.

``runner serve`` (actors + dashboard + API) and ``runner mcp`` (stdio, same database) run as
subprocesses; only the model is faked. Through MCP: create a Python server from code, set its
credential, refuse a server with a syntax error, record one that crashes at start, invoke a
tool, then create and trigger a job that calls the tool through the real Claude Code CLI. The
CLI, the JSON API and the dashboard are used along the way. Everything a user or an operator can
see is collected for the assertions: every API response and page, every log line, every row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

RUNNER = str(Path(sys.executable).parent / "runner")
PASSWORD = "correct horse battery staple"

POSTER = '''
import hashlib
import os
from pathlib import Path
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("poster")

@mcp.tool()
def post(message: str) -> str:
    """Post a message to the page (a test double: proves which credentials it sees)."""
    token = os.environ.get("FB_PAGE_TOKEN")
    digest = hashlib.sha256(token.encode()).hexdigest()[:16] if token else "none"
    others = sorted(
        k for k, v in os.environ.items() if v and k.startswith(("OTHER_", "SMTP_", "RUNNER_"))
    )
    (Path(os.environ["DATA_DIR"]) / "last_post.txt").write_text(digest + " " + message)
    parent = Path(f"/proc/{os.getppid()}")
    # In a sandbox of its own, the parent is that sandbox's init (bwrap, started with exactly
    # this server's env); the CLI is not even visible. Unconfined, the parent is the CLI.
    own_box = (parent / "comm").read_text().strip() == "bwrap"
    seen = [] if own_box else [f.name for f in (parent / "cmdline", parent / "environ")
                               if token and token.encode() in f.read_bytes()]
    return f"posted {message!r} sha={digest} others={others} parent={seen} raw={token}"

mcp.run("stdio")
'''

OTHER = '''
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("other")

@mcp.tool()
def ping() -> str:
    """Reply pong."""
    return "pong" if os.environ.get("OTHER_API_KEY") else "no key"

mcp.run("stdio")
'''

CRASHER = """
import sys
print("crasher: cannot reach the database", file=sys.stderr)
raise SystemExit(7)
"""

BROKEN = "from mcp.server.mcpserver import MCPServer\nmcp = MCPServer('x'\n@mcp.tool()\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass
class Journey:
    """What the journey produced, for the assertions of the tests."""

    data: Path
    secrets: dict[str, str]
    run_id: str = ""
    job_id: str = ""
    mcp_results: dict[str, Any] = field(default_factory=dict)
    mcp_errors: dict[str, str] = field(default_factory=dict)
    responses: dict[str, str] = field(default_factory=dict)
    """Every HTTP answer (API and pages) by ``METHOD path``."""
    cli_output: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    serve_exit: int | None = None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.data / "runner.db", timeout=10) as db:
            return list(db.execute(sql, params))


def make_secrets() -> dict[str, str]:
    tag = secrets.token_hex(8)
    return {
        "FB_PAGE_TOKEN": f"EAAB-fb-page-token-{tag}-{secrets.token_hex(12)}",
        "OTHER_API_KEY": f"sk-other-{secrets.token_hex(16)}",
        "SMTP_PASSWORD": f"smtp-pw-{secrets.token_hex(10)}",
        "REMOTE_BEARER": f"remote-bearer-{secrets.token_hex(14)}",
    }


def _env(data: Path, api: FakeAnthropicAPI, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_", "ANTHROPIC_"))}
    env.update(
        {
            "RUNNER_DATA_DIR": str(data),
            "RUNNER_HOST": "127.0.0.1",
            "RUNNER_PORT": str(port),
            "RUNNER_ADMIN_PASSWORD": PASSWORD,
            "RUNNER_MAX_API_RETRIES": "1",
            "RUNNER_LOG_LEVEL": "DEBUG",
            "ANTHROPIC_BASE_URL": api.base_url,
            "ANTHROPIC_API_KEY": "fake-key-for-the-fake-api",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
    )
    return env


def _cli(j: Journey, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [RUNNER, *args], env=env, capture_output=True, text=True, timeout=120, input=stdin
    )
    j.cli_output += [out.stdout, out.stderr]
    assert out.returncode == 0, (args, out.stderr[-2000:])
    return out.stdout


async def _call(c: Client, j: Journey, key: str, name: str, args: dict[str, Any]) -> Any:
    res = await c.call_tool(name, args)
    text = "\n".join(getattr(b, "text", "") for b in res.content)
    if res.is_error:
        j.mcp_errors[key] = text
        return None
    j.mcp_results[key] = res.structured_content
    return res.structured_content


async def _crawl(j: Journey, http: httpx2.AsyncClient, start: list[str], limit: int = 150) -> None:
    """GET every same-origin link reachable from ``start`` (bounded), recording each body."""
    seen: set[str] = set()
    todo = list(start)
    while todo and len(seen) < limit:
        path = todo.pop(0)
        if path in seen or path.startswith(("/logout", "/static/", "/hooks/", "/mcp")):
            continue
        seen.add(path)
        resp = await http.get(path)
        j.responses[f"GET {path}"] = resp.text
        if "html" not in resp.headers.get("content-type", ""):
            continue
        for link in re.findall(r'href="(/[^"#]*)"', resp.text):
            link = link.replace("&amp;", "&")
            if link not in seen and "/stream" not in link:
                todo.append(link)


async def run_journey(tmp_path: Path, values: dict[str, str]) -> Journey:
    data = tmp_path / "data"
    j = Journey(data=data, secrets=dict(values))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeAnthropicAPI() as api:
        marker = api.script(
            "post",
            [
                Turn([ToolUse("mcp__poster__post", {"message": "hello world"})]),
                Text("Posted the message to the page."),
            ],
        )
        env = _env(data, api, port)
        serve_log = tmp_path / "serve.log"
        mcp_log = tmp_path / "mcp.log"
        serve = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited here
            [RUNNER, "serve"], env=env, stdout=serve_log.open("wb"), stderr=subprocess.STDOUT
        )
        try:
            async with httpx2.AsyncClient(base_url=base, timeout=60) as http:
                with anyio.fail_after(60):
                    while True:
                        try:
                            if (await http.get("/healthz")).status_code == 200:
                                break
                        except httpx2.HTTPError:
                            pass
                        assert serve.poll() is None, serve_log.read_text()[-3000:]
                        await anyio.sleep(0.2)
                params = StdioServerParameters(
                    command="/bin/sh", args=["-c", f'exec "{RUNNER}" mcp 2>>"{mcp_log}"'], env=env
                )
                async with Client(params, mode="legacy") as c:
                    await _mcp_part(c, j, values, marker)
                await _http_part(j, http, env, values)
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                j.serve_exit = serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
                j.serve_exit = serve.wait()
        j.logs = {"serve": serve_log.read_text(errors="replace")}
        if mcp_log.exists():
            j.logs["mcp"] = mcp_log.read_text(errors="replace")
        j.logs["fake_api_requests"] = str(len(api.requests_for("post")))
    return j


async def _mcp_part(c: Client, j: Journey, values: dict[str, str], marker: str) -> None:
    token = values["FB_PAGE_TOKEN"]
    await _call(c, j, "create_poster", "create_mcp_server",
                {"name": "poster", "code": POSTER, "description": "Facebook poster"})  # fmt: skip
    await _call(c, j, "create_broken", "create_mcp_server", {"name": "broken", "code": BROKEN})
    await _call(c, j, "create_crasher", "create_mcp_server", {"name": "crasher", "code": CRASHER})
    await _call(c, j, "create_other", "create_mcp_server", {"name": "other", "code": OTHER})
    await _call(c, j, "dup_poster", "create_mcp_server", {"name": "poster", "code": POSTER})
    await _call(c, j, "bad_name", "create_mcp_server", {"name": "Bad Name", "code": POSTER})
    await _call(c, j, "creds_before", "get_server_credentials", {"server_name": "poster"})
    await _call(c, j, "set_token", "set_server_credential",
                {"server_name": "poster", "var_name": "FB_PAGE_TOKEN", "value": token})  # fmt: skip
    await _call(c, j, "set_unknown_var", "set_server_credential",
                {"server_name": "poster", "var_name": "NOPE", "value": "x"})  # fmt: skip
    await _call(c, j, "set_other", "set_server_credential",
                {"server_name": "other", "var_name": "OTHER_API_KEY",
                 "value": values["OTHER_API_KEY"]})  # fmt: skip
    await _call(c, j, "set_smtp", "set_server_credential",
                {"server_name": "email", "var_name": "SMTP_PASSWORD",
                 "value": values["SMTP_PASSWORD"]})  # fmt: skip
    await _call(c, j, "creds_after", "get_server_credentials", {"server_name": "poster"})
    await _call(c, j, "get_poster", "get_dynamic_mcp_server", {"name": "poster"})
    await _call(c, j, "get_crasher", "get_dynamic_mcp_server", {"name": "crasher"})
    await _call(c, j, "list_dynamic", "list_dynamic_mcp_servers", {})
    await _call(c, j, "list_fixed", "list_fixed_mcp_servers", {})
    await _call(c, j, "unconfigured", "get_unconfigured_servers", {})
    await _call(c, j, "invoke", "invoke_internal_mcp_tool",
                {"tool": "mcp__poster__post", "arguments": {"message": "probe"}})  # fmt: skip
    job = await _call(c, j, "create_job", "create_job",
                      {"name": "post daily", "prompt": f"Post hello world to the page {marker}",
                       "tools": ["mcp__poster__post"], "mcp_servers": ["poster"],
                       "timeout_seconds": 180})  # fmt: skip
    assert job is not None, j.mcp_errors
    j.job_id = job["job"]["job_id"]
    run = await _call(c, j, "trigger", "trigger_job", {"job_id": j.job_id})
    assert run is not None, j.mcp_errors
    j.run_id = run["run_id"]
    done = await _call(c, j, "wait", "wait_for_run", {"run_id": j.run_id, "timeout_seconds": 170})
    assert done is not None, j.mcp_errors
    await _call(c, j, "run_events", "get_run_events", {"run_id": j.run_id})
    await _call(c, j, "get_run", "get_run", {"run_id": j.run_id})


async def _http_part(
    j: Journey, http: httpx2.AsyncClient, env: dict[str, str], values: dict[str, str]
) -> None:
    page = await http.get("/login")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    resp = await http.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    assert resp.status_code == 302, resp.text
    home = await http.get("/")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
    assert csrf
    headers = {"X-CSRF-Token": csrf.group(1)}
    mcp_json = {
        "mcpServers": {
            "remote": {
                "type": "http",
                "url": "http://127.0.0.1:9/mcp",
                "headers": {"Authorization": f"Bearer {values['REMOTE_BEARER']}"},
            }
        }
    }
    for method, path, body in (
        ("POST", "/api/v1/servers/import", {"mcp_json": mcp_json}),
        ("PUT", "/api/v1/servers/other/credentials/OTHER_API_KEY",
         {"value": values["OTHER_API_KEY"]}),
        ("POST", "/api/v1/servers/other/tools/ping/invoke", {}),
        ("POST", "/api/v1/servers/email/disable", None),
        ("POST", "/api/v1/servers/email/enable", None),
    ):  # fmt: skip
        resp = await http.request(method, path, json=body, headers=headers)
        j.responses[f"{method} {path}"] = resp.text
        assert resp.status_code < 300, (path, resp.text)
    # the dashboard's credential form, as a browser posts it
    resp = await http.post(
        "/servers/poster/credentials",
        data={"csrf_token": csrf.group(1), "value:FB_PAGE_TOKEN": values["FB_PAGE_TOKEN"]},
    )
    j.responses["POST /servers/poster/credentials"] = resp.text
    assert resp.status_code == 302
    start = ["/", "/servers", "/api/v1/servers", "/api/v1/servers/poster?code=1",
             "/api/v1/servers/poster/credentials", "/api/v1/servers/remote",
             f"/api/v1/runs/{j.run_id}", f"/api/v1/runs/{j.run_id}/output",
             f"/api/v1/runs/{j.run_id}/events", f"/api/v1/jobs/{j.job_id}",
             "/api/v1/events?limit=1000", "/api/v1/events?stream=server-poster",
             "/api/v1/openapi.json", f"/runs/{j.run_id}", "/history"]  # fmt: skip
    await _crawl(j, http, start)
    # the CLI, as an operator uses it
    _cli(j, env, "servers", "list")
    _cli(j, env, "servers", "show", "poster", "--code")
    _cli(j, env, "credentials", "list", "poster")
    _cli(j, env, "credentials", "set", "email", "SMTP_PASSWORD", stdin=values["SMTP_PASSWORD"])
    _cli(j, env, "history", "server-poster")


def wait_until(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        time.sleep(0.1)


def as_text(value: Any) -> str:
    return json.dumps(value, default=str)
