"""Web benchmarks.

(a) SSE fan-out: 200 concurrent clients on one run while it emits 50 blocks/s for a bounded
    time; delivery lag (append -> frame parsed by the client) p50/p99, against a bare Quart SSE
    broadcast measured the same way in the same run. Targets: p99 <= 100 ms, within 2x bare.
(b) Dashboard pages and API lists over a database of 100,000 runs: p50/p95 per route.
    Target: p95 <= 100 ms.

Everything runs on 127.0.0.1; counts and durations are bounded; figures are printed, never
asserted.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import msgspec
from quart import Quart, Response

from events.envelope import AppendRequest, Meta
from events.jobs import JobCreated, JobSpec
from events.runs import (
    RunClaimed,
    RunFailed,
    RunOutput,
    RunRequested,
    RunResult,
    RunSpec,
    RunStarted,
    RunSucceeded,
    Usage,
)
from runner.access import Access
from runner.app import Runner
from runner.config import Config
from tests.perf import Row, print_table
from web.server import run_web

CLIENTS = 200
RATE = 50.0
SECONDS = 6.0
RUNS = 100_000
JOBS = 20
SAMPLES = 40
TS = re.compile(rb"ts=(\d+\.\d+)")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- SSE clients: a separate process (as browsers are), the same for both servers ----------


async def _client(port: int, path: str, headers: str, out: list[tuple[int, float, float]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    await writer.drain()
    current = 0
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"id: "):
                current = int(line[4:])
            elif line.startswith(b"data:"):
                m = TS.search(line)
                if m:
                    out.append((current, float(m.group(1)), time.time()))
            elif line.startswith(b"event: end"):
                return
    finally:
        writer.close()


async def _clients(port: int, path: str, headers: str) -> None:
    out: list[tuple[int, float, float]] = []
    tasks = [asyncio.ensure_future(_client(port, path, headers, out)) for _ in range(CLIENTS)]
    await asyncio.wait(tasks, timeout=SECONDS + 60)
    sys.stdout.write(msgspec.json.encode(out).decode())


async def fan_out(
    port: int,
    path: str,
    headers: str,
    emit: Callable[[str], Awaitable[None]],
    connected: Callable[[], int],
) -> list[tuple[int, float, float]]:
    """Start the client process, wait for every connection, emit at RATE, collect the frames."""
    cmd = [sys.executable, "-m", "tests.perf.bench_web", "clients", str(port), path, headers]
    async with await anyio.open_process(cmd, stdout=subprocess.PIPE, stderr=None) as proc:
        with anyio.fail_after(30):
            while connected() < CLIENTS:
                await anyio.sleep(0.05)
        await anyio.sleep(0.5)
        start = time.perf_counter()
        for i in range(int(RATE * SECONDS)):
            await emit(f"block {i} ts={time.time():.6f}")
            delay = start + (i + 1) / RATE - time.perf_counter()
            if delay > 0:
                await anyio.sleep(delay)
        await emit("")  # the end
        chunks = []
        assert proc.stdout is not None
        async for chunk in proc.stdout:
            chunks.append(chunk)
        await proc.wait()
    rows: list[tuple[int, float, float]] = msgspec.json.decode(
        b"".join(chunks), type=list[tuple[int, float, float]]
    )
    return rows


async def bare_quart() -> list[tuple[int, float, float]]:
    """The baseline: a bare Quart SSE broadcast to per-client queues."""
    app = Quart("bare")
    queues: set[asyncio.Queue[bytes]] = set()

    @app.get("/stream")
    async def stream() -> Response:
        q: asyncio.Queue[bytes] = asyncio.Queue()
        queues.add(q)

        async def gen() -> Any:
            try:
                while True:
                    data = await q.get()
                    yield data
            finally:
                queues.discard(q)

        resp = Response(gen(), mimetype="text/event-stream")
        resp.timeout = None
        return resp

    async def emit(text: str) -> None:
        frame = "event: end\ndata: {}\n\n" if not text else f"event: block\ndata: {text}\n\n"
        for q in list(queues):
            q.put_nowait(frame.encode())

    import socket

    from hypercorn.asyncio import serve
    from hypercorn.config import Config as HyperConfig

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    hc = HyperConfig()
    hc.bind = [f"fd://{sock.detach()}"]
    hc.accesslog = None
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve(app, hc, shutdown_trigger=stop.wait))
        await anyio.sleep(0.5)
        lags = await fan_out(port, "/stream", "", emit, lambda: len(queues))
        stop.set()
    return lags


async def runner_sse(
    data_dir: Path,
) -> tuple[list[tuple[int, float, float]], dict[int, float], dict[int, float], int]:
    config = Config(data_dir=data_dir, admin_password="bench password", host="127.0.0.1", port=0)
    async with Runner.open(config) as runner, anyio.create_task_group() as tg:
        _, port = await tg.start(run_web, runner, None)
        token = (await Access(runner.store).create_token("bench")).token
        run, _ = await runner.runs.quick("bench")
        rid = run.run_id
        await runner.store.append(f"run-{rid}", [RunStarted(run_id=rid, workspace="/w")])
        seq = 0

        async def emit(text: str) -> None:
            nonlocal seq
            ev: Any = (RunOutput(run_id=rid, seq=seq, kind="text", text=text) if text
                       else RunSucceeded(run_id=rid))  # fmt: skip
            seq += 1
            await runner.store.append(f"run-{rid}", [ev])

        from web.context import KEY

        hub = _HUB[0].extensions[KEY].hub
        published: dict[int, float] = {}
        publish = hub.publish

        def timed_publish(rec: Any) -> None:
            published[rec.position] = time.time()
            publish(rec)

        hub.publish = timed_publish
        headers = f"Authorization: Bearer {token}\r\n"
        lags = await fan_out(port, f"/api/v1/runs/{rid}/stream", headers, emit,
                             lambda: hub.clients)  # fmt: skip
        dropped = hub.dropped
        committed = {
            r.position: r.recorded_at_us / 1e6 for r in await runner.store.read_stream(f"run-{rid}")
        }
        tg.cancel_scope.cancel()
    return lags, committed, published, dropped


_HUB: list[Any] = []


def _spy_app() -> None:
    import web.server as server

    real = server.create_app  # type: ignore[attr-defined]

    def spy(runner: Runner, service: Any = None) -> Any:
        app = real(runner, service)
        _HUB[:] = [app]
        return app

    server.create_app = spy  # type: ignore[attr-defined,assignment]


# --- 100,000 runs ------------------------------------------------------------------------------


async def populate(runner: Runner) -> float:
    started = time.perf_counter()
    jobs = [f"job_bench{j:04d}" for j in range(JOBS)]
    await runner.store.append_atomic([
        AppendRequest(stream=f"job-{j}", events=(JobCreated(job_id=j, spec=JobSpec(
            name=f"bench job {n}", prompt="p", cron="0 * * * *")),), expected="no_stream")
        for n, j in enumerate(jobs)
    ])  # fmt: skip
    spec = RunSpec(prompt="p", model="claude-sonnet-4-5")
    batch: list[AppendRequest] = []
    for i in range(RUNS):
        rid = f"run_b{i:08d}"
        job = jobs[i % JOBS]
        result = RunResult(usage=Usage(input_tokens=1000, output_tokens=200), cost_usd=0.01,
                           num_turns=1, duration_ms=1000, model="claude-sonnet-4-5")  # fmt: skip
        end: Any = (
            RunFailed(run_id=rid, reason="api_error", message="boom", result=result)
            if i % 50 == 0
            else RunSucceeded(run_id=rid, result_text="ok", result=result)
        )
        evs: tuple[Any, ...] = (
            RunRequested(run_id=rid, job_id=job, trigger="schedule", spec=spec),
            RunClaimed(run_id=rid, claimer="bench"),
            RunStarted(run_id=rid, workspace="/w"),
            RunOutput(run_id=rid, seq=0, kind="text", text=f"run {i} **done**"),
            end,
        )  # fmt: skip
        batch.append(AppendRequest(stream=f"run-{rid}", events=evs, expected="no_stream",
                                   meta=Meta(actor="bench")))  # fmt: skip
        if len(batch) == 500:
            await runner.store.append_atomic(batch)
            batch = []
    if batch:
        await runner.store.append_atomic(batch)
    return time.perf_counter() - started


async def pages_over_100k(data_dir: Path) -> tuple[list[tuple[str, float, float]], float]:
    config = Config(data_dir=data_dir, admin_password="bench password", host="127.0.0.1", port=0)
    async with Runner.open(config) as runner, anyio.create_task_group() as tg:
        fill = await populate(runner)
        host, port = await tg.start(run_web, runner, None)
        token = (await Access(runner.store).create_token("bench")).token
        job = "job_bench0003"
        rid = f"run_b{RUNS // 2:08d}"
        deep = (await runner.queries.runs(limit=1, offset=RUNS - 10_000)).items[0]
        cursor = f"{deep.requested_at_us}.{deep.run_id}"  # 90,000 runs deep: keyset pages
        routes = ["/", "/jobs", "/runs", f"/runs?job_id={job}", "/runs?state=failed",
                  "/runs?trigger=schedule&offset=5000", f"/runs/{rid}", f"/jobs/{job}",
                  "/history", f"/history/run-{rid}",
                  "/api/v1/runs", "/api/v1/runs?limit=200", f"/api/v1/runs?job_id={job}",
                  "/api/v1/jobs", "/api/v1/costs?group_by=job", f"/api/v1/runs/{rid}/output",
                  "/api/v1/events?limit=200", f"/runs?before={cursor}",
                  f"/api/v1/runs?cursor={cursor}", f"/api/v1/runs?offset={RUNS - 10_000}"]  # fmt: skip
        out: list[tuple[str, float, float]] = []
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(base_url=f"http://{host}:{port}", headers=headers) as http:
            for path in routes:
                times = []
                for _ in range(SAMPLES):
                    t = time.perf_counter()
                    resp = await http.get(path)
                    times.append((time.perf_counter() - t) * 1000)
                    assert resp.status_code == 200, (path, resp.status_code)
                out.append((path, statistics.median(times), pct(times, 0.95)))
        tg.cancel_scope.cancel()
    return out, fill


def main() -> list[Row]:
    rows: list[Row] = []
    _spy_app()
    with tempfile.TemporaryDirectory() as tmp:
        bare_rows = anyio.run(bare_quart)
        ours_rows, committed, published, dropped = anyio.run(runner_sse, Path(tmp) / "sse")
        bare = [recv - ts for _, ts, recv in bare_rows]
        hub = [recv - published[pos] for pos, _, recv in ours_rows]
        txn = [recv - committed[pos] for pos, _, recv in ours_rows]
        e2e = [recv - ts for _, ts, recv in ours_rows]
        expected = int(RATE * SECONDS) * CLIENTS
        print(f"SSE fan-out: {CLIENTS} clients (separate process) x {RATE:.0f} blocks/s x "
              f"{SECONDS:.0f} s")  # fmt: skip
        ms = [(name, pct(v, 0.5) * 1000, pct(v, 0.99) * 1000) for name, v in (
            ("bare Quart broadcast (queue put -> client)", bare),
            ("runner hub (bus publish -> client)", hub),
            ("runner (transaction start -> client)", txn),
            ("runner (append call -> client, incl. durable write)", e2e))]  # fmt: skip
        for name, p50, p99 in ms:
            print(f"  {name:<52} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
        print(f"  frames: bare {len(bare)}/{expected}, runner {len(e2e)}/{expected}; "
              f"clients dropped {dropped}")  # fmt: skip
        bare_p99, hub_p99, e2e_p99 = ms[0][2], ms[1][2], ms[3][2]
        ratio = hub_p99 / bare_p99 if bare_p99 > 0 else float("nan")
        rows.append(Row("web", "SSE delivery lag p99 (publish->client)", f"{hub_p99:.1f} ms",
                        "<= 100 ms", hub_p99 <= 100))  # fmt: skip
        rows.append(Row("web", "SSE delivery p99 vs bare Quart", f"{ratio:.2f}x ({bare_p99:.1f} ms)",
                        "<= 2x", ratio <= 2))  # fmt: skip
        rows.append(Row("web", "SSE lag p99 from the append call", f"{e2e_p99:.1f} ms",
                        "<= 100 ms", e2e_p99 <= 100))  # fmt: skip
        rows.append(Row("web", "SSE frames delivered", f"{len(e2e)}/{expected}", "all",
                        len(e2e) >= expected))  # fmt: skip
        pages, fill = anyio.run(pages_over_100k, Path(tmp) / "pages")
        print(f"100,000 runs written in {fill:.1f} s ({RUNS * 5 / fill:,.0f} events/s)")
        worst = 0.0
        for path, p50, p95 in pages:
            print(f"  {path:<40} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
            worst = max(worst, p95)
            rows.append(Row("web", f"GET {path} p95", f"{p95:.1f} ms", "<= 100 ms", p95 <= 100))
    print_table(rows)
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["clients"]:
        port_, path_, headers_ = sys.argv[2], sys.argv[3], sys.argv[4]
        asyncio.run(_clients(int(port_), path_, headers_))
    else:
        main()
