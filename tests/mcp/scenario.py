"""One conversation with the runner's MCP server that calls every tool, over any transport."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.types import CallToolResult

JOB_TOOLS = {
    "list_jobs",
    "get_job",
    "create_job",
    "update_job",
    "delete_job",
    "trigger_job",
    "pause_job",
    "resume_job",
}
RUN_TOOLS = {
    "list_runs",
    "get_run",
    "kill_run",
    "erase_run_output",
    "quick_run",
    "wait_for_run",
    "get_run_events",
    "get_costs",
    "get_health",
}
WEBHOOK_TOOLS = {
    "create_webhook",
    "list_webhooks",
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "rotate_webhook_secret",
    "list_deliveries",
}
SERVER_TOOLS = {
    "create_mcp_server",
    "list_dynamic_mcp_servers",
    "get_dynamic_mcp_server",
    "update_mcp_server",
    "delete_mcp_server",
    "enable_mcp_server",
    "disable_mcp_server",
    "list_fixed_mcp_servers",
    "enable_fixed_server",
    "disable_fixed_server",
    "invoke_internal_mcp_tool",
    "set_server_credential",
    "get_server_credentials",
    "list_required_credentials",
    "get_unconfigured_servers",
    "delete_server_credential",
}
SETTINGS_TOOLS = {"get_settings", "update_settings"}
ALL_TOOLS = JOB_TOOLS | RUN_TOOLS | WEBHOOK_TOOLS | SERVER_TOOLS | SETTINGS_TOOLS
READ_ONLY = {
    "get_settings",
    "list_jobs",
    "get_job",
    "list_runs",
    "get_run",
    "wait_for_run",
    "get_run_events",
    "get_costs",
    "get_health",
    "list_webhooks",
    "get_webhook",
    "list_deliveries",
    "list_dynamic_mcp_servers",
    "get_dynamic_mcp_server",
    "list_fixed_mcp_servers",
    "get_server_credentials",
    "list_required_credentials",
    "get_unconfigured_servers",
}
DESTRUCTIVE = {
    "delete_job",
    "kill_run",
    "erase_run_output",
    "delete_webhook",
    "rotate_webhook_secret",
    "delete_mcp_server",
    "delete_server_credential",
}

OPEN_WORLD = {"trigger_job", "quick_run", "invoke_internal_mcp_tool"}


def text(res: CallToolResult) -> str:
    return "\n".join(getattr(b, "text", "") for b in res.content)


async def ok(c: Client, name: str, args: dict[str, Any] | None = None) -> Any:
    res = await c.call_tool(name, args or {})
    assert not res.is_error, f"{name}: {text(res)}"
    assert res.structured_content is not None, name
    # the JSON text block mirrors the structured content for clients that ignore it
    assert json.loads(text(res)) == res.structured_content
    return res.structured_content


async def err(c: Client, name: str, args: dict[str, Any] | None = None) -> str:
    res = await c.call_tool(name, args or {})
    assert res.is_error, f"{name} should fail: {text(res)}"
    msg = text(res)
    assert "Traceback" not in msg
    for raw in ("validation error", "type=", "pydantic", "Arguments\n", "For further information"):
        assert raw not in msg, f"{name}: raw validation text {raw!r} in {msg!r}"
    return msg


async def check_catalogue(c: Client) -> None:
    tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(tools) >= ALL_TOOLS, sorted(ALL_TOOLS - set(tools))
    for name in ALL_TOOLS:
        t = tools[name]
        assert t.description and len(t.description) > 20, name
        assert t.annotations is not None, name
        assert t.annotations.read_only_hint is (name in READ_ONLY), name
        if name not in READ_ONLY:
            assert t.annotations.destructive_hint is (name in DESTRUCTIVE), name
        assert t.annotations.open_world_hint is (name in OPEN_WORLD), name
        assert t.output_schema is not None, name
    for t in tools.values():  # every tool, also ones added later
        assert t.title and t.title[0].isupper(), f"{t.name} has no title"
        for param, schema in t.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{t.name}.{param} has no description"
    cron = tools["create_job"].input_schema["properties"]["cron"]
    assert "0 7 * * 1-5" in json.dumps(cron)


async def exercise(c: Client, *, progress: list[str] | None = None) -> dict[str, Any]:
    """Call every tool once or more; returns ids for transport-specific checks."""
    await check_catalogue(c)
    # -- jobs ---------------------------------------------------------------------------------
    msg = await err(c, "create_job", {"name": "bad", "prompt": "x", "cron": "0 7 * *"})
    assert "expected 5 fields" in msg and "0 7 * * 1-5" in msg and "cron" in msg
    msg = await err(c, "create_job", {"name": "bad", "prompt": "x", "timezone": "Mars/Base"})
    assert "IANA" in msg
    msg = await err(c, "create_job", {"name": "bad", "prompt": "x", "tools": ["Nope"]})
    assert "valid built-in tools" in msg
    created = await ok(
        c,
        "create_job",
        {
            "name": "AI news",
            "prompt": "Summarise today's AI news",
            "cron": "0 7 * * *",
            "timezone": "Europe/Paris",
            "tools": ["WebSearch", "WebFetch"],
            "retry": {"max_attempts": 2},
        },
    )
    job = created["job"]
    job_id = job["job_id"]
    assert job["schedule"].startswith("every day at 07:00") and job["next_run_at"]
    assert job["retry"]["max_attempts"] == 2
    assert "already exists" in await err(c, "create_job", {"name": "AI news", "prompt": "y"})
    msg = await err(c, "get_job", {"job_id": "job_nope"})
    assert "expected a job id" in msg
    listed = await ok(c, "list_jobs", {"limit": 1})
    assert listed["page"]["total"] == 1 and listed["jobs"][0]["job_id"] == job_id
    assert (await ok(c, "get_job", {"job_id": job_id}))["name"] == "AI news"
    assert (await ok(c, "get_job", {"job_id": "AI news"}))["job_id"] == job_id  # by exact name
    assert "exact job name" in await err(c, "get_job", {"job_id": "no such job"})
    # argument errors name the field and what to fix, never pydantic's text
    assert await err(c, "get_job", {}) == "invalid arguments: job_id: required"
    msg = await err(c, "list_jobs", {"limit": 5000, "offset": "x"})
    assert "limit: must be at most 200 (got 5000)" in msg
    assert "offset: must be a whole number (got 'x')" in msg
    msg = await err(c, "create_job", {"name": "n", "prompt": "p", "retry": {"max_attempts": 99}})
    assert msg == "invalid arguments: retry.max_attempts: must be at most 10 (got 99)"
    msg = await err(c, "create_job", {"name": "n", "prompt": "p", "overlap": "sometimes"})
    assert "overlap: must be one of 'skip', 'buffer_one', 'allow' or 'cancel_previous'" in msg
    msg = await err(c, "list_jobs", {"limt": 5})
    assert msg.startswith("invalid arguments: 'limt': not an argument of this tool")
    assert "valid arguments: limit, offset" in msg
    msg = await err(c, "create_job", {"name": "evil\x1b[2J", "prompt": "p"})
    assert msg.startswith("name: contains control or invisible characters (U+001B)"), msg
    upd = await ok(c, "update_job", {"job_id": job_id, "cron": "30 6 * * 1-5"})
    assert upd["job"]["cron"] == "30 6 * * 1-5" and upd["job"]["schedule"].startswith("on weekdays")
    assert "changed since" in await err(
        c, "update_job", {"job_id": job_id, "prompt": "z", "expected_version": 0}
    )
    assert "nothing to update" in await err(c, "update_job", {"job_id": job_id})
    paused = await ok(c, "pause_job", {"job_id": job_id, "reason": "holiday"})
    assert paused["enabled"] is False and paused["next_run_at"] is None
    assert (await ok(c, "resume_job", {"job_id": job_id}))["enabled"] is True
    # -- runs ---------------------------------------------------------------------------------
    run = await ok(c, "trigger_job", {"job_id": job_id, "wait_seconds": 0.3})
    run_id = run["run_id"]
    assert run["state"] == "requested" and run["trigger"] == "mcp"
    admission = run["admission"]  # no service runs here: nobody admitted it
    assert admission["decision"] == "queued" and admission["reason"] == "no_decision_yet"
    assert "service" in admission["detail"] and admission["waited_seconds"] >= 0.3
    runs = await ok(c, "list_runs", {"job_id": job_id})
    assert [r["run_id"] for r in runs["runs"]] == [run_id]
    by_name = await ok(c, "list_runs", {"job_id": "AI news"})  # names work wherever ids do
    assert [r["run_id"] for r in by_name["runs"]] == [run_id]
    assert "expected a job id" in await err(c, "list_runs", {"job_id": "nope"})
    assert (await ok(c, "get_run", {"run_id": run_id}))["tools"] == ["WebSearch", "WebFetch"]
    assert "expected a run id" in await err(c, "get_run", {"run_id": "run_x"})
    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    res = await c.call_tool(
        "wait_for_run",
        {"run_id": run_id, "timeout_seconds": 0.3},
        progress_callback=on_progress,
    )
    waited = res.structured_content or {}
    assert waited["timed_out"] is True and waited["finished"] is False
    assert notes and str(notes[0]).startswith(f"waiting for run {run_id}")  # progress arrives
    events = await ok(c, "get_run_events", {"run_id": run_id})
    assert events["events"][0]["type"] == "RunRequested"
    assert events["events"][0]["actor"].startswith("mcp:")
    killed = await ok(c, "kill_run", {"run_id": run_id, "reason": "changed my mind"})
    assert killed["state"] == "cancelled"  # a queued run can be killed
    assert "already finished" in await err(c, "kill_run", {"run_id": run_id})
    done = await ok(c, "wait_for_run", {"run_id": run_id})
    assert done["finished"] is True and done["timed_out"] is False
    evs = await ok(c, "get_run_events", {"run_id": run_id, "limit": 1})
    assert evs["has_more"] is True and len(evs["events"]) == 1
    nxt = await ok(
        c, "get_run_events", {"run_id": run_id, "after_version": evs["next_after_version"]}
    )
    assert [e["type"] for e in nxt["events"]][-1] == "RunCancelled"
    quick = await ok(c, "quick_run", {"prompt": "say hi", "tools": ["Read"]})
    assert quick["run"]["trigger"] == "quick" and quick["run"]["job_id"] is None
    assert "prompt" in await err(c, "quick_run", {"prompt": "   "})
    page = await ok(c, "list_runs", {"limit": 1})
    assert page["page"]["has_more"] is True and page["page"]["next_offset"] == 1
    assert "limit" in await err(c, "list_runs", {"limit": 5000})
    costs = await ok(c, "get_costs", {"group_by": "job"})
    assert costs["group_by"] == "job" and costs["total_runs"] >= 0
    assert "date like" in await err(c, "get_costs", {"start": "last tuesday"})
    health = await ok(c, "get_health")
    assert "active_runs" in health
    assert health["public_url"].startswith("http")
    # -- settings -----------------------------------------------------------------------------
    before = await ok(c, "get_settings")
    assert before["max_concurrent_runs"] >= 1 and "Read" in before["allowed_builtin_tools"]
    changed = await ok(c, "update_settings", {"max_concurrent_runs": 5, "daily_budget_usd": 2.5})
    assert changed["changed"] == ["daily_budget_usd", "max_concurrent_runs"]
    assert (await ok(c, "get_settings"))["max_concurrent_runs"] == 5
    assert "max_concurrent_runs: must be at least 1 (got 0)" in await err(
        c, "update_settings", {"max_concurrent_runs": 0}
    )
    assert "sandbox_mode: must be one of" in await err(
        c, "update_settings", {"sandbox_mode": "maybe"}
    )
    msg = await err(c, "update_settings", {"allowed_builtin_tools": ["Read", "Teleport"]})
    assert msg.startswith("allowed_builtin_tools: unknown built-in tools ['Teleport']"), msg
    assert "nothing to change" in await err(c, "update_settings", {})
    reset = await ok(c, "update_settings", {"reset": ["daily_budget_usd", "max_concurrent_runs"]})
    assert reset["daily_budget_usd"] is None
    assert reset["max_concurrent_runs"] == before["max_concurrent_runs"]
    # -- webhooks -----------------------------------------------------------------------------
    hook = await c.call_tool("create_webhook", {"name": "gh", "prompt_template": "{{payload}}"})
    webhooks_ready = not hook.is_error
    if webhooks_ready:
        wh = hook.structured_content or {}
        wh_id = wh["webhook_id"]
        assert wh["secret"] and wh["secret"] in wh["url"]
        listed_hooks = await ok(c, "list_webhooks")
        assert wh["secret"] not in json.dumps(listed_hooks)
        assert (await ok(c, "get_webhook", {"webhook_id": wh_id}))["name"] == "gh"
        assert (await ok(c, "get_webhook", {"webhook_id": "gh"}))["webhook_id"] == wh_id
        assert wh["url"].startswith(health["public_url"] + "/hooks/")
        assert "expected a webhook id" in await err(c, "get_webhook", {"webhook_id": "x"})
        upd_hook = await ok(c, "update_webhook", {"webhook_id": wh_id, "enabled": False})
        assert upd_hook["enabled"] is False
        rotated = await ok(c, "rotate_webhook_secret", {"webhook_id": wh_id, "grace_seconds": 0})
        assert rotated["secret"] != wh["secret"]
        assert (await ok(c, "list_deliveries", {"webhook_id": wh_id}))["deliveries"] == []
        assert (await ok(c, "delete_webhook", {"webhook_id": wh_id}))["deleted"] is True
    else:
        assert "not available yet" in text(hook)
    # -- servers and credentials --------------------------------------------------------------
    await exercise_servers(c)
    # -- clean-up -----------------------------------------------------------------------------
    deleted = await ok(c, "delete_job", {"job_id": job_id})
    assert deleted["deleted"] is True
    assert "expected a job id" in await err(c, "delete_job", {"job_id": job_id})
    return {"job_id": job_id, "run_id": run_id, "webhooks": webhooks_ready}


DEMO = """
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("demo")


@mcp.tool()
def add(a: int, b: int) -> str:
    \"\"\"Add two numbers.\"\"\"
    token = os.environ.get("DEMO_TOKEN", "")
    return f"{a + b} (token ends {token[-4:]}; leak {token})"


mcp.run("stdio")
"""
DEMO_SECRET = "demo-token-SECRET-0123456789"


async def exercise_servers(c: Client) -> None:
    """Built-in, user-built servers and credentials, through the real server commands."""
    fixed = await ok(c, "list_fixed_mcp_servers")
    assert {"email", "http_fetch", "memory"} <= {s["name"] for s in fixed["servers"]}
    assert "built-in servers" in await err(c, "enable_fixed_server", {"name": "nope"})
    assert (await ok(c, "disable_fixed_server", {"name": "memory"}))["enabled"] is False
    assert (await ok(c, "enable_fixed_server", {"name": "memory"}))["enabled"] is True
    unconfigured = await ok(c, "get_unconfigured_servers")
    email = [s for s in unconfigured["unconfigured_servers"] if s["name"] == "email"]
    assert email and "SMTP_HOST" in email[0]["missing_credentials"]
    req = await ok(c, "list_required_credentials", {"server_name": "email"})
    assert "SMTP_PASSWORD" in {v["name"] for v in req["env_vars"]}
    msg = await err(c, "get_server_credentials", {"server_name": "nope"})
    assert "no MCP server named 'nope'" in msg
    made = await ok(c, "create_mcp_server", {"name": "demo", "code": DEMO, "description": "d"})
    assert made["tools"][0]["id"] == "mcp__demo__add", made
    assert "already" in (await err(c, "create_mcp_server", {"name": "demo", "code": DEMO}))
    bad = await err(c, "create_mcp_server", {"name": "broken", "code": "def (:"})
    assert "broken" not in {
        s["name"] for s in (await ok(c, "list_dynamic_mcp_servers"))["servers"]
    }, bad
    listed = await ok(c, "list_dynamic_mcp_servers")
    assert [s["name"] for s in listed["servers"]] == ["demo"]
    got = await ok(c, "get_dynamic_mcp_server", {"name": "demo"})
    assert "def add" in got["code"]
    assert "built-in" in await err(c, "get_dynamic_mcp_server", {"name": "email"})
    upd = await ok(c, "update_mcp_server", {"name": "demo", "description": "adds"})
    assert upd["description"] == "adds"
    assert "nothing to update" in await err(c, "update_mcp_server", {"name": "demo"})
    cred = await ok(
        c,
        "set_server_credential",
        {"server_name": "demo", "var_name": "DEMO_TOKEN", "value": DEMO_SECRET},
    )
    assert cred["credentials"][0]["masked"] == "****" + DEMO_SECRET[-4:]
    shown = await ok(c, "get_server_credentials", {"server_name": "demo"})
    assert DEMO_SECRET not in json.dumps(shown) and shown["credentials"][0]["configured"]
    assert "DEMO_TOKEN" in await err(
        c, "set_server_credential", {"server_name": "demo", "var_name": "NOPE", "value": "v"}
    )
    # a declared-sensitive variable cannot be downgraded and read back
    downgrade = {"server_name": "demo", "var_name": "DEMO_TOKEN", "value": DEMO_SECRET}
    msg = await err(c, "set_server_credential", {**downgrade, "sensitive": False})
    assert msg.startswith("sensitive: DEMO_TOKEN is declared sensitive"), msg
    shown = await ok(c, "get_server_credentials", {"server_name": "demo"})
    assert DEMO_SECRET not in json.dumps(shown) and shown["credentials"][0]["sensitive"]
    called = await ok(
        c, "invoke_internal_mcp_tool", {"tool": "demo:add", "arguments": {"a": 2, "b": 3}}
    )
    assert called["tool"] == "mcp__demo__add" and called["warnings"]
    assert called["text"].startswith("5 ") and DEMO_SECRET not in json.dumps(called)
    assert "not an MCP tool" in await err(c, "invoke_internal_mcp_tool", {"tool": "Bash"})
    assert "no tool 'nope'" in await err(c, "invoke_internal_mcp_tool", {"tool": "mcp__demo__nope"})
    job = await ok(c, "create_job", {"name": "adder", "prompt": "add", "tools": ["demo.add"]})
    assert job["job"]["tools"] == ["mcp__demo__add"] and job["job"]["mcp_servers"] == ["demo"]
    assert any("normalized tool 'demo.add'" in w for w in job["warnings"])
    msg = await err(c, "delete_mcp_server", {"name": "demo"})  # in use: refused, naming the job
    assert msg.startswith("name: server 'demo' is used by 1 job(s)/webhook(s): job 'adder'"), msg
    assert "cascade=true" in msg
    assert (await ok(c, "get_dynamic_mcp_server", {"name": "demo"}))["name"] == "demo"
    await ok(c, "delete_job", {"job_id": job["job"]["job_id"]})
    assert (await ok(c, "disable_mcp_server", {"name": "demo"}))["enabled"] is False
    assert "disabled" in await err(c, "invoke_internal_mcp_tool", {"tool": "mcp__demo__add"})
    assert (await ok(c, "enable_mcp_server", {"name": "demo"}))["enabled"] is True
    gone = await ok(
        c, "delete_server_credential", {"server_name": "demo", "var_name": "DEMO_TOKEN"}
    )
    assert gone["deleted"] == "DEMO_TOKEN" and not gone["credentials"][0]["configured"]
    assert "no stored credential" in await err(
        c, "delete_server_credential", {"server_name": "demo", "var_name": "DEMO_TOKEN"}
    )
    user = await ok(c, "create_job", {"name": "uses demo", "prompt": "p", "mcp_servers": ["demo"]})
    assert "job 'uses demo'" in await err(c, "delete_mcp_server", {"name": "demo"})
    dropped = await ok(c, "delete_mcp_server", {"name": "demo", "cascade": True})
    assert dropped["deleted"] is True and dropped["detached_from"] == ["job:uses demo"]
    left = await ok(c, "get_job", {"job_id": "uses demo"})
    assert left["mcp_servers"] == [] and left["tools"] == []
    await ok(c, "delete_job", {"job_id": user["job"]["job_id"]})
    assert "no MCP server named 'demo'" in await err(c, "delete_mcp_server", {"name": "demo"})
