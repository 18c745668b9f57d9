"""The executor with the real bundled CLI through the real SDK against the fake Messages API."""

from __future__ import annotations

from typing import Any

import pytest
from claude_agent_sdk import create_sdk_mcp_server, tool

from actors.executor import Executor
from actors.executor_client import StaticResolver
from actors.executor_options import ExecutorSettings
from actors.sandbox import ro
from events import SQLiteEventStore
from events.runs import (
    RunFailed,
    RunOutput,
    RunOutputTruncated,
    RunStarted,
    RunSucceeded,
    RunUsage,
)
from tests.actors.conftest import ctx, events_of
from tests.fakes.anthropic_api import (
    Error,
    FakeAnthropicAPI,
    Flood,
    Text,
    Thinking,
    ToolUse,
    Turn,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SECRET = "sk-demo-SECRET-4242"


def demo_server() -> Any:
    @tool("add", "Add two integers", {"a": int, "b": int})
    async def add(args: dict[str, Any]) -> dict[str, Any]:
        total = args["a"] + args["b"]
        return {"content": [{"type": "text", "text": f"{total} (token {SECRET})"}]}

    return create_sdk_mcp_server("demo", "1.0.0", tools=[add])


async def test_mcp_tool_then_answer(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script(
        "add",
        [
            Turn([ToolUse("mcp__demo__add", {"a": 2, "b": 3})], input_tokens=240, output_tokens=14),
            Turn([Text("The sum is 5.")], input_tokens=300, output_tokens=6),
        ],
    )
    resolver = StaticResolver({"demo": demo_server()}, secrets=[SECRET])
    ex = Executor(store, settings, resolver=resolver)
    await ex.execute(ctx("r1", f"add 2 and 3 {marker}", mcp_servers=("demo",)))

    evs = await events_of(store, "r1")
    assert isinstance(evs[0], RunStarted) and evs[0].auth == "api_key"
    outs = [e for e in evs if isinstance(e, RunOutput)]
    assert [o.kind for o in outs] == ["tool_use", "tool_result", "text"]
    assert [o.seq for o in outs] == [0, 1, 2]
    assert outs[0].tool_name == "mcp__demo__add" and outs[0].data == {"input": {"a": 2, "b": 3}}
    assert outs[1].text.startswith("5 (token [redacted])")
    assert outs[1].tool_name == outs[0].tool_name
    assert all(SECRET not in repr(e) for e in evs)
    usages = [e for e in evs if isinstance(e, RunUsage)]
    assert [u.usage.output_tokens for u in usages] == [14, 6]
    assert len({u.message_id for u in usages}) == 2
    term = evs[-1]
    assert isinstance(term, RunSucceeded), term
    assert term.result_text == "The sum is 5."
    assert term.result.usage.input_tokens == 540 and term.result.usage.output_tokens == 20
    assert term.result.cost_usd > 0 and term.result.num_turns == 2
    assert term.result.session_id and term.result.model == "claude-sonnet-4-5"
    # only the job's tool reached the model, and only through the fake
    body = fake_api.requests_for("add")[0].body or {}
    assert [t["name"] for t in body["tools"]] == ["mcp__demo__add"]
    assert not (settings.data_dir / "runs" / "r1").exists()
    assert (settings.data_dir / "workspaces" / "job1").is_dir()


async def test_thinking_and_text(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("think", [Turn([Thinking("let me see"), Text("hi " * 300)])])
    await Executor(store, settings).execute(ctx("r2", f"hello {marker}", job_id=None))
    evs = await events_of(store, "r2")
    outs = [(e.kind, e.text) for e in evs if isinstance(e, RunOutput)]
    assert outs == [("thinking", "let me see"), ("text", "hi " * 300)]
    assert isinstance(evs[-1], RunSucceeded)
    assert not (settings.data_dir / "workspaces" / "adhoc-r2").exists()  # removed at run end


async def test_overloaded_then_success_shows_the_retry(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("busy", [Error(529, "overloaded_error"), Text("done")])
    await Executor(store, settings).execute(ctx("r3", f"go {marker}"))
    evs = await events_of(store, "r3")
    assert isinstance(evs[-1], RunSucceeded) and evs[-1].result_text == "done"
    system = [e.text for e in evs if isinstance(e, RunOutput) and e.kind == "system"]
    assert system and "HTTP 529" in system[0]
    assert [r.status for r in fake_api.requests_for("busy")] == [529, 200]


async def test_overloaded_after_retries_is_retryable(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("down", [Error(529, "overloaded_error")] * 3)
    await Executor(store, settings).execute(ctx("r4", f"go {marker}"))
    term = (await events_of(store, "r4"))[-1]
    assert isinstance(term, RunFailed), term
    assert term.reason == "overloaded" and term.retryable


async def test_unauthenticated_fails_fast(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("auth", [Error(401, "authentication_error", "invalid x-api-key")] * 5)
    await Executor(store, settings).execute(ctx("r5", f"go {marker}"))
    term = (await events_of(store, "r5"))[-1]
    assert isinstance(term, RunFailed), term
    assert term.reason == "authentication" and not term.retryable
    assert "not authenticated" in term.message
    assert len(fake_api.requests_for("auth")) <= 2


async def test_bad_model_fails_with_a_readable_reason(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    await Executor(store, settings).execute(ctx("r6", "hi", model="no-such-model"))
    term = (await events_of(store, "r6"))[-1]
    assert isinstance(term, RunFailed), term
    assert term.reason == "invalid_request" and not term.retryable
    assert "no-such-model" in term.message


async def test_budget_exceeded(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    big = Turn([ToolUse("mcp__demo__add", {"a": 1, "b": 1})], input_tokens=2_000_000)
    marker = fake_api.script("budget", [big, Text("never")])
    resolver = StaticResolver({"demo": demo_server()})
    spec: dict[str, Any] = {"mcp_servers": ("demo",), "budget_usd": 0.01}
    await Executor(store, settings, resolver=resolver).execute(ctx("r7", f"go {marker}", **spec))
    term = (await events_of(store, "r7"))[-1]
    assert isinstance(term, RunFailed), term
    assert term.reason == "budget_exceeded" and not term.retryable
    assert term.result is not None and term.result.cost_usd > 0.01


async def test_max_turns(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    loop = Turn([ToolUse("mcp__demo__add", {"a": 1, "b": 1})])
    marker = fake_api.script("turns", [loop] * 5)
    resolver = StaticResolver({"demo": demo_server()})
    spec: dict[str, Any] = {"mcp_servers": ("demo",), "max_turns": 2}
    await Executor(store, settings, resolver=resolver).execute(ctx("r8", f"go {marker}", **spec))
    term = (await events_of(store, "r8"))[-1]
    assert isinstance(term, RunFailed), term
    assert term.reason == "max_turns" and not term.retryable


async def test_output_flood_is_truncated(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    import msgspec

    capped = msgspec.structs.replace(settings, max_block_chars=5_000, max_run_chars=12_000)
    marker = fake_api.script("flood", [Turn([Text("a" * 8_000), Text("b" * 8_000)])])
    await Executor(store, capped).execute(ctx("r9", f"go {marker}"))
    evs = await events_of(store, "r9")
    outs = [e for e in evs if isinstance(e, RunOutput)]
    cuts = [e for e in evs if isinstance(e, RunOutputTruncated)]
    assert [len(o.text) for o in outs] == [5_000, 5_000] and all(o.truncated for o in outs)
    assert [c.limit for c in cuts] == ["block", "block"]
    assert isinstance(evs[-1], RunSucceeded)
    flood = fake_api.script("flood2", [Flood(40_000)])
    await Executor(store, capped).execute(ctx("r10", f"go {flood}"))
    evs = await events_of(store, "r10")
    cuts = [e for e in evs if isinstance(e, RunOutputTruncated)]
    assert {c.limit for c in cuts} >= {"block"}
    assert sum(len(e.text) for e in evs if isinstance(e, RunOutput)) <= 12_000


async def test_two_runs_in_flight_follow_their_own_scripts(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    import anyio

    a = fake_api.script("alpha", [Error(529, "overloaded_error"), Text("alpha done")])
    b = fake_api.script("beta", [Turn([Text("beta done")], delay=0.01)])
    ex = Executor(store, settings)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ex.execute, ctx("ca", f"one {a}", job_id="ja"))
        tg.start_soon(ex.execute, ctx("cb", f"two {b}", job_id="jb"))
    ta, tb = (await events_of(store, "ca"))[-1], (await events_of(store, "cb"))[-1]
    assert isinstance(ta, RunSucceeded) and ta.result_text == "alpha done"
    assert isinstance(tb, RunSucceeded) and tb.result_text == "beta done"
    assert [r.status for r in fake_api.requests_for("alpha")] == [529, 200]
    assert [r.status for r in fake_api.requests_for("beta")] == [200]


STDIO_SERVER = '''
import os
from mcp.server.mcpserver import MCPServer

app = MCPServer("calc")


@app.tool(structured_output=False)
def whoami() -> str:
    """Report the server's token."""
    return "token=" + os.environ["CALC_TOKEN"]


app.run()
'''


async def test_stdio_mcp_server_with_a_secret(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI, tmp_path: Any
) -> None:
    import sys

    script = tmp_path / "calc_server.py"
    script.write_text(STDIO_SERVER)
    token = "calc-TOKEN-9f8e7d"
    config = {"command": sys.executable, "args": [str(script)], "env": {"CALC_TOKEN": token}}
    resolver = StaticResolver({"calc": config}, secrets=[token], mounts=[ro(script)])
    marker = fake_api.script("stdio", [ToolUse("mcp__calc__whoami", {}), Text("ok")])
    ex = Executor(store, settings, resolver=resolver)
    await ex.execute(ctx("rs", f"who {marker}", mcp_servers=("calc",)))
    evs = await events_of(store, "rs")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    results = [e.text for e in evs if isinstance(e, RunOutput) and e.kind == "tool_result"]
    assert results and results[0].startswith("token=[redacted]")
    assert all(token not in repr(e) for e in evs)
    # the model saw the real result (redaction is for the log, not the model)
    second = fake_api.requests_for("stdio")[1].body or {}
    assert token in str(second["messages"])
