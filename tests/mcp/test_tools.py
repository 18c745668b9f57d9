"""Every tool through the real MCP client, in-process (fast; the transports have their own)."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from events.runs import RunClaimed, RunOutput, RunStarted, RunSucceeded
from runner.app import Runner
from tests.mcp.scenario import exercise, ok
from web.mcp.server import build_mcp

pytestmark = pytest.mark.anyio


async def test_every_tool_in_process(runner: Runner) -> None:
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        ids = await exercise(c)
    assert ids["job_id"].startswith("job_")
    assert ids["webhooks"]  # runner.commands.webhooks is present: the real commands answered


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


async def test_wait_for_run_streams_progress_until_the_run_ends(runner: Runner) -> None:
    job, _ = await runner.jobs.create({"name": "j", "prompt": "p"})
    run = await runner.runs.request_job(job.job_id)
    notes: list[tuple[float, str | None]] = []
    waiting = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, message))
        waiting.set()

    async def play() -> None:
        await waiting.wait()
        stream = f"run-{run.run_id}"
        for ev in (
            RunClaimed(run_id=run.run_id, claimer="t"),
            RunStarted(run_id=run.run_id, workspace="/tmp/w", model="claude-x"),
            RunOutput(run_id=run.run_id, seq=0, kind="tool_use", tool_name="mcp__demo__add"),
            RunOutput(run_id=run.run_id, seq=1, kind="text", text="the answer is 5"),
            RunSucceeded(run_id=run.run_id, result_text="the answer is 5"),
        ):
            await runner.store.append(stream, [ev])

    async with Client(build_mcp(runner, None), mode="legacy") as c, anyio.create_task_group() as tg:
        tg.start_soon(play)
        res = await c.call_tool(
            "wait_for_run",
            {"run_id": run.run_id, "timeout_seconds": 30},
            progress_callback=on_progress,
        )
    out = res.structured_content or {}
    assert out["finished"] is True and out["run"]["state"] == "succeeded"
    assert out["run"]["result_text"] == "the answer is 5"
    messages = [m for _, m in notes]
    assert messages[0] and messages[0].startswith("waiting for run")
    assert "claimed by an executor" in messages and "started (model claude-x)" in messages
    assert "tool call: mcp__demo__add" in messages and "text: the answer is 5" in messages
    assert [p for p, _ in notes] == sorted(p for p, _ in notes)


async def test_long_results_and_events_are_paged_not_cut(runner: Runner) -> None:
    run, _ = await runner.runs.quick("write a lot")
    answer = "".join(f"{i:05d}" for i in range(1800))  # 9000 characters
    stream = f"run-{run.run_id}"
    for ev in (
        RunClaimed(run_id=run.run_id, claimer="t"),
        RunStarted(run_id=run.run_id, workspace="/tmp/w"),
        RunOutput(run_id=run.run_id, seq=0, kind="text", text="y" * 5000),
        RunSucceeded(run_id=run.run_id, result_text=answer),
    ):
        await runner.store.append(stream, [ev])
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        got, offset = "", 0
        while True:
            part = await ok(c, "get_run", {"run_id": run.run_id, "result_offset": offset})
            got += part["result_text"]
            assert part["result_total_chars"] == 9000 and part["result_truncated"]
            if part["next_result_offset"] is None:
                break
            offset = part["next_result_offset"]
        assert got == answer
        evs = await ok(c, "get_run_events", {"run_id": run.run_id})
        text_ev = next(e for e in evs["events"] if e["type"] == "RunOutput")
        assert text_ev["data"]["_clipped_fields"] == ["text"]
        full = await ok(
            c,
            "get_run_events",
            {
                "run_id": run.run_id,
                "after_version": text_ev["version"] - 1,
                "limit": 1,
                "max_field_chars": 10000,
            },
        )
        assert full["events"][0]["data"]["text"] == "y" * 5000 and full["has_more"]


async def test_webhook_tools_say_not_available_without_their_commands(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.mcp import tools_webhooks

    monkeypatch.setattr(tools_webhooks, "_mod", None)
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        res = await c.call_tool("create_webhook", {"name": "n", "prompt_template": "t"})
        assert res.is_error and "not available yet" in str(res.content[0])
        assert "list_deliveries" in {t.name for t in (await c.list_tools()).tools}
