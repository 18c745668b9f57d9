"""A conversation through the real Claude Code CLI: the (scripted) model uses the runner's own
MCP server, ``runner mcp`` over stdio on the same database, to create a job and trigger it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors.executor import Executor, RunContext
from actors.executor_client import StaticResolver
from actors.executor_options import ExecutorSettings
from events.runs import RunOutput, RunSpec, RunSucceeded
from projections import JobView
from runner.app import Runner
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.helpers import open_runner

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
RUNNER = str(Path(sys.executable).parent / "runner")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _job(runner: Runner, name: str) -> JobView:
    with anyio.fail_after(10):  # written by the `runner mcp` child; this process tails the log
        while (job := await runner.queries.job_by_name(name)) is None:
            await anyio.sleep(0.05)
    return job


async def test_model_creates_and_triggers_a_job_through_runner_mcp(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = {
        "name": "AI news digest",
        "prompt": "Summarise today's AI news in five bullets",
        "cron": "0 7 * * *",
        "timezone": "Europe/Paris",
        "tools": ["WebSearch"],
    }
    with FakeAnthropicAPI() as api:
        marker = api.script(
            "conv",
            [
                Turn([ToolUse("mcp__runner__create_job", args)]),
                Turn([ToolUse("mcp__runner__trigger_job", {"job_id": "AI news digest"})]),
                Text("Created 'AI news digest' (daily at 07:00 Paris) and started a run."),
            ],
        )
        async with open_runner(data) as runner:
            settings = ExecutorSettings(
                data_dir=data,
                auth_env={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.base_url},
                max_api_retries=1,
                # The runner's own MCP server needs the data dir, which no sandbox shows: a
                # trusted server like it belongs in-process (SDK server), not in a run's box.
                sandbox_mode="off",
            )
            own: dict[str, Any] = {
                "type": "stdio",
                "command": RUNNER,
                "args": ["mcp"],
                "env": {"RUNNER_DATA_DIR": str(data)},
            }
            ex = Executor(runner.store, settings, resolver=StaticResolver({"runner": own}))
            spec = RunSpec(
                prompt=f"Create a job that summarises AI news every morning at 7, then run it "
                f"now. {marker}",
                tools=("mcp__runner__create_job", "mcp__runner__trigger_job"),
                mcp_servers=("runner",),
                timeout_seconds=120,
            )
            await ex.execute(RunContext(run_id="run_conv", job_id=None, spec=spec))
            events = [r.event for r in await runner.store.read_stream("run-run_conv")]
            assert isinstance(events[-1], RunSucceeded), events[-1]
            assert "started a run" in events[-1].result_text
            results = [e for e in events if isinstance(e, RunOutput) and e.kind == "tool_result"]
            assert len(results) == 2 and not any(r.is_error for r in results), results
            job = await _job(runner, "AI news digest")
            assert job.spec.cron == "0 7 * * *" and job.spec.timezone == "Europe/Paris"
            runs = await runner.queries.runs()
            triggered = [r for r in runs.items if r.job_id == job.job_id]
            assert len(triggered) == 1 and triggered[0].trigger == "mcp"
            history = await runner.store.read_stream(f"job-{job.job_id}")
            assert history[0].meta.actor == "mcp:stdio"
        # the model saw the real tool results: the job id, then the queued run
        bodies = [json.dumps(r.body) for r in api.requests_for("conv")]
        assert job.job_id in bodies[1] and triggered[0].run_id in bodies[2]
