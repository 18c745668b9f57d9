"""1,000 jobs due in the same minute over 1 node vs 3 nodes on one database (issue 16 item 7).

    .venv/bin/python -m tests.perf nodes                   # SQLite and PostgreSQL, side by side
    .venv/bin/python -m tests.perf.bench_nodes sqlite      # one backend only
    .venv/bin/python -m tests.perf.bench_nodes postgresql  # (a throwaway cluster on loopback)

Each node is a separate process running the real scheduler and claimer (``actors/``) on the
shared log, as ``runner serve`` does; only execution is trivial: a claimed run is handed to a
stand-in executor that records ``RunStarted`` + ``RunSucceeded`` at once (no CLI, no model),
so what is measured is firing and claiming. 1,000 jobs on ``* * * * *`` are created, the nodes
start ~15 s before the next minute, and after the slot the log is checked: every slot fired
exactly once (1,000 ``RunRequested``, no duplicate), every run claimed exactly once, and the
time from the slot (due) to each run's ``RunClaimed`` (p50 / p99 / all claimed), per node
count, with ratios against the 1-node baseline of the same run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

from tests.perf import Row, print_table

JOBS = int(os.environ.get("BENCH_NODE_JOBS", "1000"))
LEAD_SECONDS = 15.0  # nodes start this long before the slot (they must be planning by then)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))] if xs else math.nan


def _env(data: Path) -> dict[str, str]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data), "RUNNER_LOG_LEVEL": "WARNING",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}  # fmt: skip
    url = (data / "database-url").read_text() if (data / "database-url").exists() else ""
    if url:  # every node of a PostgreSQL run shares the database (and the data dir's chain key)
        env["RUNNER_DATABASE_URL"] = url
    return env


def _sql(data: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the shared log: the SQLite file, or the PostgreSQL database of this run."""
    url = (data / "database-url").read_text() if (data / "database-url").exists() else ""
    if url:
        import psycopg

        with psycopg.connect(url) as pg:
            return [tuple(r) for r in pg.execute(sql.replace("?", "%s")).fetchall()]
    with sqlite3.connect(data / "runner.db", timeout=30) as db:
        return [tuple(r) for r in db.execute(sql).fetchall()]


async def _prepare(data: Path, jobs: int) -> None:
    from runner.app import Runner
    from runner.config import load_config

    async with Runner.open(load_config(_env(data))) as runner:
        await runner.settings.change({"max_concurrent_runs": 100})
        for i in range(jobs):
            await runner.jobs.create({"name": f"due-{i:04d}", "prompt": "p", "cron": "* * * * *",
                                      "overlap": "allow"})  # fmt: skip


async def _node(data: Path, index: int) -> None:
    """One node: scheduler + claimer + a stand-in executor, until SIGTERM."""
    from actors.claimer import Claimer
    from actors.scheduler import Scheduler
    from events.envelope import Meta
    from events.ids import run_stream
    from events.runs import RunStarted, RunSucceeded
    from projections.runs import RunView
    from runner.app import Runner
    from runner.config import load_config

    async with Runner.open(load_config(_env(data))) as runner:
        store = runner.store
        send, receive = anyio.create_memory_object_stream[RunView](2000)
        claimer = Claimer(store, f"bench:{index}", send, node=f"node{index}")

        async def execute() -> None:
            async with receive:
                async for run in receive:
                    await store.append(run_stream(run.run_id),
                                       [RunStarted(run_id=run.run_id, workspace="-"),
                                        RunSucceeded(run_id=run.run_id)],
                                       meta=Meta(actor="bench"))  # fmt: skip

        async with anyio.create_task_group() as tg:
            tg.start_soon(Scheduler(store).run)
            tg.start_soon(claimer.run)
            tg.start_soon(execute)
            (data / f"ready-{index}").touch()
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            tg.cancel_scope.cancel()


def _measure(data: Path, nodes: int, jobs: int) -> dict[str, float]:
    anyio.run(_prepare, data, jobs)
    now = time.time()
    slot = math.ceil((now + LEAD_SECONDS) / 60) * 60
    time.sleep(max(0.0, slot - LEAD_SECONDS - time.time()))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.perf.bench_nodes", "node", str(data), str(i)],
            env=_env(data),
        )
        for i in range(nodes)
    ]
    try:
        deadline = slot + 120
        while time.time() < deadline:
            time.sleep(1.0)
            if time.time() < slot + 2:
                continue
            done = _sql(data, "SELECT count(*) FROM v_runs WHERE state = 'succeeded'")
            if done[0][0] >= jobs:
                break
        ready = sum((data / f"ready-{i}").exists() for i in range(nodes))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    rows = _sql(data, "SELECT stream, type, recorded_at, data FROM events WHERE type IN "
                      "('RunRequested', 'RunClaimed') ORDER BY position")  # fmt: skip
    requested = Counter(s for s, t, _, _ in rows if t == "RunRequested")
    claimed = Counter(s for s, t, _, _ in rows if t == "RunClaimed")
    claimers = Counter(json.loads(bytes(d))["node"] for _, t, _, d in rows if t == "RunClaimed")
    lat = [at / 1e6 - slot for s, t, at, _ in rows if t == "RunClaimed"]
    return {
        "ready": ready,
        "requested": len(requested),
        "dup_requested": sum(c - 1 for c in requested.values()),
        "claimed": len(claimed),
        "dup_claimed": sum(c - 1 for c in claimed.values()),
        "p50": pct(lat, 0.5),
        "p99": pct(lat, 0.99),
        "all": max(lat) if lat else math.nan,
        "nodes_claiming": len(claimers),
    }


def _series(backend: str, url: str | None) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    for nodes in (1, 3):
        with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
            if url is not None:
                from tests.postgres_cluster import Databases

                dbs = Databases(url)
                (Path(tmp) / "database-url").write_text(dbs.create())
            try:
                r = results[nodes] = _measure(Path(tmp), nodes, JOBS)
            finally:
                if url is not None:
                    dbs.drop_all()
        print(f"{backend}, {nodes} node(s): {r['ready']:.0f} ready; {r['requested']:.0f} "
              f"requested ({r['dup_requested']:.0f} duplicate), {r['claimed']:.0f} claimed "
              f"({r['dup_claimed']:.0f} duplicate) by {r['nodes_claiming']:.0f} node(s); due → "
              f"claimed p50 {r['p50']:.2f} s, p99 {r['p99']:.2f} s, all {r['all']:.2f} s",
              flush=True)  # fmt: skip
    return results


def main(backend: str = "both") -> list[Row]:
    rows: list[Row] = []
    if backend in ("sqlite", "both"):
        rows += _rows("SQLite", _series("sqlite", None))
    if backend in ("postgresql", "both"):
        from tests.postgres_cluster import pg_bindir, throwaway_postgres

        if pg_bindir() is None:
            print("skipped: postgresql: not installed (make test installs it)")
        else:
            with throwaway_postgres(durable=True) as server:
                rows += _rows("PostgreSQL", _series("postgresql", server))
    print_table(rows)
    return rows


def _rows(label: str, results: dict[int, dict[str, float]]) -> list[Row]:
    rows: list[Row] = []
    base = results[1]
    for nodes, r in results.items():
        exact = r["requested"] == JOBS and r["claimed"] == JOBS
        exact = exact and r["dup_requested"] == 0 and r["dup_claimed"] == 0
        rows.append(Row("nodes", f"{label}, {nodes} node(s): slots fired / runs claimed once",
                        f"{r['requested']:.0f} / {r['claimed']:.0f} of {JOBS}, "
                        f"{r['dup_requested'] + r['dup_claimed']:.0f} duplicates",
                        "all, 0 duplicates", exact))  # fmt: skip
        ratio = (
            ""
            if nodes == 1
            else (
                f" ({r['p50'] / base['p50']:.2f}× / {r['p99'] / base['p99']:.2f}× / "
                f"{r['all'] / base['all']:.2f}× the 1-node run)"
            )
        )
        rows.append(Row("nodes", f"{label}, {nodes} node(s): due → claimed p50 / p99 / all",
                        f"{r['p50']:.2f} / {r['p99']:.2f} / {r['all']:.2f} s{ratio}"))  # fmt: skip
    return rows


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "node":
        anyio.run(_node, Path(sys.argv[2]), int(sys.argv[3]))
    else:
        main(*(sys.argv[1:2] or ["both"]))
