"""Executor overhead: real CLI + fake API through ``Executor`` vs the bare SDK, interleaved.

    .venv/bin/python -m tests.perf.bench_executor [--runs 10] [--noop 200]

(c) For each of ``--runs`` rounds it runs one trivial prompt through ``Executor.execute`` (events
into a real SQLite store) and one through ``ClaudeSDKClient`` directly with the same options
(same isolation, gate callbacks, partial messages), alternating which goes first, and prints
the medians and the overhead ratio (target ≤ 1.10). It also prints the executor's own cost per
run with the no-op client (no CLI), which bounds what the executor adds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from claude_agent_sdk import ClaudeSDKClient

from actors.executor import Executor, RunContext
from actors.executor_client import noop_client_factory
from actors.executor_gate import Gate
from actors.executor_options import (
    ExecutorSettings,
    build_options,
    remove_scratch,
    run_dirs,
    sandbox_available,
)
from events import SQLiteEventStore
from events.runs import RunSpec, RunSucceeded
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text
from tests.perf import Row

PROMPT = "say ok [[script:bench]]"


async def _direct(settings: ExecutorSettings, run_id: str) -> float:
    """The bare SDK with the options the executor would build; returns wall seconds."""
    dirs = run_dirs(settings, run_id, "bench-direct")

    async def no_denial(*_: object) -> None:
        return None

    gate = Gate(
        workspace=dirs.workspace,
        tools=(),
        servers=(),
        sandbox=sandbox_available(settings),
        on_denied=no_denial,
    )
    opts = build_options(
        settings,
        dirs,
        model=settings.default_model,
        tools=[],
        mcp_servers={},
        can_use_tool=gate.can_use_tool,
        pre_tool_use=gate.pre_tool_use,
        stderr=lambda _line: None,
        max_turns=None,
        budget_usd=None,
        sandbox=False,
    )
    t0 = time.perf_counter()
    client = ClaudeSDKClient(options=opts)
    try:
        await client.connect()
        await client.query(PROMPT)
        ok = False
        async for msg in client.receive_response():
            ok = ok or type(msg).__name__ == "ResultMessage"
        assert ok
    finally:
        await client.disconnect()
    elapsed = time.perf_counter() - t0
    remove_scratch(dirs)
    return elapsed


async def _executor(ex: Executor, store: SQLiteEventStore, run_id: str) -> float:
    t0 = time.perf_counter()
    await ex.execute(RunContext(run_id=run_id, job_id="bench", spec=RunSpec(prompt=PROMPT)))
    elapsed = time.perf_counter() - t0
    last = (await store.read_stream(f"run-{run_id}"))[-1].event
    assert isinstance(last, RunSucceeded), last
    return elapsed


async def measure(runs: int, noop: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, FakeAnthropicAPI() as api:
        api.script("bench", [Text("ok")] * (10 * runs))
        settings = ExecutorSettings(
            data_dir=Path(tmp) / "data",
            auth_env={"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": api.base_url},
        )
        async with SQLiteEventStore.open(Path(tmp) / "events.db") as store:
            ex = Executor(store, settings)
            await _executor(ex, store, "warm-x")  # warm caches (CLI binary, imports)
            await _direct(settings, "warm-d")
            via_ex: list[float] = []
            direct: list[float] = []
            for i in range(runs):
                if i % 2 == 0:
                    via_ex.append(await _executor(ex, store, f"x{i}"))
                    direct.append(await _direct(settings, f"d{i}"))
                else:
                    direct.append(await _direct(settings, f"d{i}"))
                    via_ex.append(await _executor(ex, store, f"x{i}"))
            mx, md = statistics.median(via_ex), statistics.median(direct)
            print(f"(c) executor vs bare SDK, real CLI + fake API, {runs} interleaved runs each")
            for name, xs in (("executor", via_ex), ("bare SDK", direct)):
                med, mean = statistics.median(xs) * 1000, statistics.mean(xs) * 1000
                print(f"    {name:9} median {med:7.1f} ms  mean {mean:7.1f} ms")
            print(f"    overhead ratio (median) {mx / md:.3f}  (target <= 1.10)")
            rows = [
                Row(
                    "executor",
                    "run vs bare SDK (median)",
                    f"{mx / md:.3f}x",
                    "≤ 1.10",
                    mx / md <= 1.10,
                )
            ]

            nex = Executor(store, settings, client_factory=noop_client_factory)
            t0 = time.perf_counter()
            for i in range(noop):
                await nex.execute(
                    RunContext(run_id=f"n{i}", job_id="noop", spec=RunSpec(prompt="x"))
                )
            per = (time.perf_counter() - t0) / max(noop, 1)
            print(f"    executor alone (no-op client, {noop} runs): {per * 1000:.2f} ms/run")
            rows.append(
                Row("executor", "executor alone (no-op client)", f"{per * 1000:.2f} ms/run")
            )
            return rows


def main(runs: int = 10, noop: int = 200) -> list[Row]:
    """Entry point of ``python -m tests.perf`` (defaults) and of this module's command line."""
    return anyio.run(measure, runs, noop)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--noop", type=int, default=200)
    a = p.parse_args()
    main(a.runs, a.noop)
