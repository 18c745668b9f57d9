"""Sandbox overhead: the same trivial run and the same tool-server start, with and without the
bubblewrap sandbox, interleaved in one process.

    .venv/bin/python -m tests.perf.bench_sandbox [--runs 8] [--starts 8]

(a) a trivial run (real CLI, fake API, no tools) through ``Executor.execute`` with sandbox mode
``auto`` (the CLI inside bwrap) and ``off`` (unconfined); (b) a dynamic tool server started and
its tools listed (``discover_tools``) inside its own sandbox and unconfined. Prints medians and
the overhead ratios (target <= 1.10 per run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import msgspec

from actors.executor import Executor, RunContext
from actors.executor_options import ExecutorSettings
from actors.sandbox import probe
from events import SQLiteEventStore
from events.runs import RunSpec, RunSucceeded
from runner.servers.confine import confined
from runner.servers.discovery import discover_tools
from runner.servers.launch import Launch, dynamic_launch
from runner.servers.materialize import write_server
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text
from tests.perf import Row, print_table

PROMPT = "say ok [[script:bench]]"
SERVER = """
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("bench")

@mcp.tool()
def ping() -> str:
    \"\"\"Ping.\"\"\"
    return "pong"

mcp.run("stdio")
"""


async def _run(ex: Executor, store: SQLiteEventStore, run_id: str) -> float:
    t0 = time.perf_counter()
    await ex.execute(RunContext(run_id=run_id, job_id="bench", spec=RunSpec(prompt=PROMPT)))
    elapsed = time.perf_counter() - t0
    last = (await store.read_stream(f"run-{run_id}"))[-1].event
    assert isinstance(last, RunSucceeded), last
    return elapsed


async def _start(data: Path, boxed: bool) -> float:
    launch: Launch = dynamic_launch(data, "bench", {})
    if boxed:
        launch = confined(launch, kind="dynamic", data_dir=data, mode="auto")
    t0 = time.perf_counter()
    found = await discover_tools(launch)
    elapsed = time.perf_counter() - t0
    assert found.ok and [t.name for t in found.tools] == ["ping"], found.error
    return elapsed


async def _interleaved(n: int, a: object, b: object) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for i in range(n):
        order = ((xs, a), (ys, b)) if i % 2 == 0 else ((ys, b), (xs, a))
        for out, fn in order:
            out.append(await fn(i))  # type: ignore[operator]
    return xs, ys


async def bench(runs: int, starts: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, FakeAnthropicAPI() as api:
        api.script("bench", [Text("ok")] * (10 * runs + 10))
        base = ExecutorSettings(
            data_dir=Path(tmp) / "data",
            auth_env={"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": api.base_url},
        )
        boxed = msgspec.structs.replace(base, sandbox_mode="auto")
        plain = msgspec.structs.replace(base, sandbox_mode="off")
        async with SQLiteEventStore.open(Path(tmp) / "events.db") as store:
            bx, px = Executor(store, boxed), Executor(store, plain)
            await _run(bx, store, "warm-b")
            await _run(px, store, "warm-p")
            b, p = await _interleaved(
                runs,
                lambda i: _run(bx, store, f"b{i}"),
                lambda i: _run(px, store, f"p{i}"),
            )
        rows += _report("trivial run", runs, b, p)
        data = Path(tmp) / "data"
        write_server(data, "bench", SERVER)
        await _start(data, True)
        await _start(data, False)
        sb, sp = await _interleaved(
            starts, lambda i: _start(data, True), lambda i: _start(data, False)
        )
        rows += _report("tool-server start", starts, sb, sp)
    return rows


def _report(what: str, n: int, boxed: list[float], plain: list[float]) -> list[Row]:
    mb, mp = statistics.median(boxed), statistics.median(plain)
    ratio = mb / mp
    print(f"{what}, {n} interleaved each")
    for name, xs in (("sandboxed", boxed), ("unsandboxed", plain)):
        print(
            f"    {name:12} median {statistics.median(xs) * 1000:7.1f} ms"
            f"  min {min(xs) * 1000:7.1f} ms"
        )
    print(f"    ratio (median) {ratio:.3f}  (target <= 1.10)")
    return [
        Row("sandbox", f"{what} sandboxed (median)", f"{mb * 1000:.0f} ms"),
        Row("sandbox", f"{what} unsandboxed (median)", f"{mp * 1000:.0f} ms"),
        Row("sandbox", f"{what} ratio", f"{ratio:.3f}", "<= 1.10", ratio <= 1.10),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--starts", type=int, default=8)
    a = p.parse_args(argv or [])
    problem = probe()
    if problem is not None:
        print(f"skipped: no sandbox here ({problem})")
        return []
    return anyio.run(bench, a.runs, a.starts)


if __name__ == "__main__":
    import sys

    print_table(main(sys.argv[1:]))
