"""Memory and start-up of ``runner serve`` on a large log vs an empty one (issue 16 item 1).

    BENCH_RUNS=500000 .venv/bin/python -m tests.perf memory     # the README figure (2.5M+ events)

Builds a realistic log (per run: requested, claimed, started, outputs, usage, terminal; over 100
jobs; ``BENCH_RUNS`` runs, default 50,000) with its views, then starts the real ``runner serve``
on it and on an empty data directory, waits for ``/healthz`` and reads the process's resident
memory. Targets: RSS at the large log ≤ 1.5× the empty one; start-up to healthy ≤ 2 s.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from projections import ALL_PROJECTIONS
from projections.rebuild import rebuild_into
from tests.perf import Row, print_table
from tests.perf.bench_projections import generate

RUNS = int(os.environ.get("BENCH_RUNS", "50000"))
EVENTS_PER_RUN = 20  # what bench_projections.generate writes per run


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve_and_measure(data: Path) -> tuple[float, float]:
    """(seconds to a healthy /healthz, resident MB once healthy and settled)."""
    port = _port()
    env = {
        **os.environ,
        "RUNNER_DATA_DIR": str(data),
        "RUNNER_PORT": str(port),
        "RUNNER_ADMIN_PASSWORD": "bench-password-123",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise RuntimeError("runner serve did not become healthy")
            time.sleep(0.02)
        healthy = time.perf_counter() - started
        time.sleep(2.0)  # let the actors finish their start-up reads
        return healthy, _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def as_v1_log(db: Path) -> None:
    """Mark a generated log as store schema 1: its rows carry the plain v1 chain
    (``bench_projections.generate``), so the store upgrades it at open (keyed chain from the
    next row on) instead of finding every row's v2 hash wrong."""
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM store_info WHERE key IN ('v2_from', 'checkpoint', "
                     "'checkpoint_mac', 'chain_key_id')")  # fmt: skip
        conn.execute("INSERT OR REPLACE INTO store_info(key, value) VALUES ('schema_version', '1')")


def build_log(data: Path, runs: int) -> int:
    data.mkdir(parents=True)
    db = data / "runner.db"
    n = generate(db, runs * EVENTS_PER_RUN)
    source = sqlite3.connect(db)
    views = sqlite3.connect(db, isolation_level=None)
    try:
        rebuild_into(source, views, ALL_PROJECTIONS)
    finally:
        source.close()
        views.close()
    as_v1_log(db)
    return n


def main() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        empty, big = Path(tmp) / "empty", Path(tmp) / "big"
        empty.mkdir()
        t = time.perf_counter()
        n = build_log(big, RUNS)
        size = (big / "runner.db").stat().st_size / 1e9
        print(f"built a log of {n:,} events ({size:.2f} GB) in {time.perf_counter() - t:.0f} s")
        first = serve_and_measure(big)[0]  # upgrades the generated log, verifies, checkpoints
        print(f"first start on the large log (full chain verification): {first:.1f} s")
        e_start, e_rss = serve_and_measure(empty)
        b_start, b_rss = serve_and_measure(big)
    ratio = b_rss / e_rss
    rows = [
        Row("memory", "serve RSS, empty log", f"{e_rss:.0f} MB"),
        Row("memory", f"serve RSS, {n:,} events", f"{b_rss:.0f} MB"),
        Row("memory", "RSS large / empty", f"{ratio:.2f}x", "≤ 1.5x", ratio <= 1.5),
        Row("memory", "start-up to healthy, empty", f"{e_start:.2f} s"),
        Row(
            "memory",
            f"start-up to healthy, {n:,} events",
            f"{b_start:.2f} s",
            "≤ 2 s",
            b_start <= 2,
        ),
    ]
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
