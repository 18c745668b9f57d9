"""Webhook ingest throughput and latency against a bare Quart + aiosqlite baseline.

Two servers, each in its own process on a loopback port, measured in the same run by the same
load generator — a third process: a bounded asyncio HTTP/1.1 keep-alive client (``CONNECTIONS``
connections, ``REQUESTS`` requests, at most ``TIME_CAP`` seconds):

* **baseline**: bare Quart + Hypercorn, ``POST /ingest`` doing one aiosqlite ``INSERT`` and
  commit per request (WAL, ``synchronous = FULL``, like the event store);
* **webhooks**: the real ingress (``web.hooks``) on the real ``Runner``: every delivery is
  GitHub-signed by the client with its own ``X-GitHub-Delivery``, verified (HMAC-SHA256 over the
  raw body), rate-limit checked, deduplicated (append to its own delivery stream with
  ``expected="no_stream"``) and durably appended before the 202 — with the webhook actor running
  in the same process, turning every delivery into a ``RunRequested``.

Afterwards the log is counted: every 202 must be one stored ``WebhookReceived``. Prints both
req/s, the ratio (target >= 1.0x) and p50/p99 latency. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from tests.perf import Row, print_table

REQUESTS = 4_000
CONNECTIONS = 32
TIME_CAP = 30.0
WARMUP = 200
BODY_PAD = 600  # a small but realistic JSON payload


# --- servers (child processes) -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _serve(app: Any, port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    cfg = Config()
    cfg.bind = [f"127.0.0.1:{port}"]
    cfg.accesslog = None
    cfg.errorlog = None
    cfg.graceful_timeout = 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await serve(app, cfg, shutdown_trigger=stop.wait)


async def serve_baseline(data_dir: Path, port: int) -> None:
    import aiosqlite
    from quart import Quart, jsonify, request

    db = await aiosqlite.connect(str(data_dir / "baseline.db"), isolation_level=None)
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = FULL")
    await db.execute("CREATE TABLE IF NOT EXISTS hooks (id INTEGER PRIMARY KEY, body BLOB)")
    app = Quart("baseline")

    @app.post("/ingest")
    async def ingest() -> Any:
        body = await request.get_data()
        cur = await db.execute("INSERT INTO hooks (body) VALUES (?)", (body,))
        return jsonify({"id": cur.lastrowid}), 202

    print(json.dumps({"ready": True}), flush=True)
    try:
        await _serve(app, port)
    finally:
        await db.close()


async def serve_webhooks(data_dir: Path, port: int) -> None:
    from quart import Quart

    from actors.webhook import WebhookActor
    from runner.commands.webhooks import for_runner
    from tests.helpers import open_runner
    from web.hooks import hooks_blueprint

    async with open_runner(data_dir) as runner:
        hook, secret, _ = await for_runner(runner).create(
            {
                "name": "bench",
                "prompt_template": "Triage {{payload.issue.title}}",
                "scheme": "github",
                "rate_per_minute": 100_000,
                "burst": 10_000,
            }
        )
        app = Quart("webhooks")
        app.register_blueprint(hooks_blueprint(runner))
        actor = WebhookActor(runner.store)
        print(json.dumps({"webhook_id": hook.webhook_id, "secret": secret}), flush=True)
        follower = asyncio.create_task(actor.run())
        await asyncio.create_task(_serve(app, port))  # its own task: its cancellations stay there
        for _ in range(200):  # let the actor finish what it already saw (bounded)
            if await _actor_done(runner):
                break
            await asyncio.sleep(0.05)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def _actor_done(runner: Any) -> bool:
    rows = await runner.store.query(
        "SELECT count(*) FROM v_deliveries WHERE run_id NOT IN (SELECT k FROM v_runs)"
    )
    return int(rows[0][0]) == 0


# --- load generator (child process) --------------------------------------------------------------


def _requests(kind: str, port: int, n: int, hook: dict[str, str]) -> list[bytes]:
    out = []
    pad = "x" * BODY_PAD
    for i in range(n):
        body = json.dumps(
            {"action": "opened", "issue": {"number": i, "title": f"Bug {i}", "body": pad}}
        ).encode()
        if kind == "baseline":
            path, extra = "/ingest", ""
        else:
            sig = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
            path = f"/hooks/{hook['webhook_id']}"
            extra = (
                f"X-GitHub-Event: issues\r\nX-GitHub-Delivery: bench-{os.getpid()}-{i}\r\n"
                f"X-Hub-Signature-256: sha256={sig}\r\n"
            )
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def load(kind: str, port: int, n: int, hook: dict[str, str]) -> dict[str, Any]:
    reqs = _requests(kind, port, n + WARMUP, hook)
    warm, reqs = reqs[:WARMUP], reqs[WARMUP:]
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    deadline = time.perf_counter() + TIME_CAP

    async def worker(queue: list[bytes], record: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue and time.perf_counter() < deadline:
                data = queue.pop()
                t0 = time.perf_counter()
                writer.write(data)
                status = await _read_response(reader)
                if record:
                    latencies.append(time.perf_counter() - t0)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(warm, False) for _ in range(8)))
    started = time.perf_counter()
    await asyncio.gather(*(worker(reqs, True) for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    done = len(latencies)
    return {
        "requests": done,
        "seconds": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": 1000 * latencies[done // 2] if done else 0.0,
        "p99_ms": 1000 * latencies[min(done - 1, int(done * 0.99))] if done else 0.0,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


# --- orchestration -------------------------------------------------------------------------------


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.perf.bench_webhooks", *args]


def measure(kind: str, data_dir: Path) -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "RUNNER_DATA_DIR": str(data_dir)}
    server = subprocess.Popen(
        _child("serve", kind, str(data_dir), str(port)),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        hook = json.loads(server.stdout.readline() or "{}")
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        client = subprocess.run(
            _child("load", kind, str(port), str(REQUESTS)),
            input=json.dumps(hook),
            capture_output=True,
            text=True,
            timeout=TIME_CAP + 60,
            check=True,
        )
        result: dict[str, Any] = json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if kind == "webhooks":
        conn = sqlite3.connect(str(data_dir / "runner.db"))
        try:
            counts = dict(
                conn.execute(
                    "SELECT type, count(*) FROM events WHERE type IN "
                    "('WebhookReceived', 'RunRequested', 'WebhookRejected') GROUP BY type"
                ).fetchall()
            )
        finally:
            conn.close()
        result["stored"] = counts
    return result


def main() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        base = measure("baseline", Path(tmp) / "baseline")
        ours = measure("webhooks", Path(tmp) / "webhooks")
    accepted = ours["statuses"].get("202", 0)
    stored = ours["stored"].get("WebhookReceived", 0)
    ratio = ours["rps"] / base["rps"] if base["rps"] else 0.0
    print(
        f"load: {CONNECTIONS} keep-alive connections from a separate process, "
        f"{REQUESTS} requests (+{WARMUP} warm-up), cap {TIME_CAP:.0f} s"
    )
    for name, r in (("baseline (Quart + 1 aiosqlite insert)", base), ("webhook ingest", ours)):
        print(
            f"{name:40s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  statuses {r['statuses']}"
        )
    print(
        f"stored: {stored} WebhookReceived for {accepted} x 202 (+{WARMUP} warm-up), "
        f"{ours['stored'].get('RunRequested', 0)} RunRequested by the actor"
    )
    print(f"ratio webhook ingest / baseline: {ratio:.2f}x (target >= 1.0x)")
    rows.append(Row("webhooks", "baseline req/s", f"{base['rps']:.0f}"))
    rows.append(Row("webhooks", "ingest req/s", f"{ours['rps']:.0f}"))
    rows.append(Row("webhooks", "ingest / baseline", f"{ratio:.2f}x", ">= 1.0x", ratio >= 1.0))
    rows.append(Row("webhooks", "ingest p99", f"{ours['p99_ms']:.1f} ms"))
    rows.append(Row("webhooks", "baseline p99", f"{base['p99_ms']:.1f} ms"))
    durable = stored == accepted + WARMUP and accepted == ours["requests"]
    rows.append(
        Row("webhooks", "every 202 stored", f"{stored}/{accepted + WARMUP}", "all", durable)
    )
    print_table(rows)
    return rows


def _cli(argv: list[str]) -> None:
    if argv[0] == "serve":
        kind, data_dir, port = argv[1], Path(argv[2]), int(argv[3])
        data_dir.mkdir(parents=True, exist_ok=True)
        target = serve_baseline if kind == "baseline" else serve_webhooks
        anyio.run(target, data_dir, port)
    elif argv[0] == "load":
        kind, port, n = argv[1], int(argv[2]), int(argv[3])
        hook = json.loads(sys.stdin.read() or "{}")
        print(json.dumps(asyncio.run(load(kind, port, n, hook))), flush=True)
    else:
        main()


if __name__ == "__main__":
    _cli(sys.argv[1:] or ["main"])
