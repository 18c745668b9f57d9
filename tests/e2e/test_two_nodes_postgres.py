"""Two ``runner serve`` nodes (separate data directories) on one PostgreSQL database, the real
Claude Code CLI through the SDK and the scripted model: every cron slot fires once, every run
is claimed once, the global concurrency cap holds across nodes, ``kill -9`` of one node mid-run
is recovered by the other (leases), node B's live stream shows a run node A executes, and the
run's API answer names the node that ran it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import psycopg
import pytest

from events.chain import KEY_FILE, load_key
from runner.access import Access
from runner.app import Runner
from runner.migrate import _verify_copy
from tests.e2e.test_service_processes import cli_processes_under, wait
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.helpers import make_config
from tests.postgres_cluster import Databases, databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL is not installed"),
]
T = TypeVar("T")
CAP = 2
TERMINAL = ("RunSucceeded", "RunFailed", "RunTimedOut", "RunCancelled", "RunCrashed", "RunSkipped")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One ``runner serve`` process with its own data directory and port."""

    def __init__(self, name: str, root: Path, url: str, api: FakeAnthropicAPI) -> None:
        self.name = name
        self.data = root / name
        self.port = free_port()
        self.log = root / f"{name}.log"
        self.env = {
            **os.environ,
            **api.env(max_retries=1),
            "RUNNER_DATA_DIR": str(self.data),
            "RUNNER_PORT": str(self.port),
            "RUNNER_DATABASE_URL": url,
            "RUNNER_ADMIN_PASSWORD": "correct horse battery staple",
            "RUNNER_MAX_API_RETRIES": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def instance(self) -> str:
        assert self.proc is not None
        return f"{socket.gethostname()}:{self.proc.pid}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "serve"],
            env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait(self.healthy, 45, f"node {self.name} to serve")

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"node {self.name} exited: {self.log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def get(self, path: str, token: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()[:500]
        return json.loads(resp.read())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def sql(url: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())


def with_runner(url: str, data: Path, fn: Callable[[Runner], Awaitable[T]]) -> T:
    """Run ``fn`` against a Runner on the shared database (a command-line client, no actors)."""

    async def go() -> T:
        async with Runner.open(make_config(data, database_url=url)) as runner:
            return await fn(runner)

    return anyio.run(go)


def stream_types(url: str, run_id: str) -> list[str]:
    rows = sql(
        url, "SELECT type FROM events WHERE stream = %s ORDER BY position", (f"run-{run_id}",)
    )
    return [str(r[0]) for r in rows]


def max_concurrent(url: str) -> int:
    """The most runs claimed and not yet ended at any point of the log."""
    live: set[str] = set()
    most = 0
    for stream, type_ in sql(
        url, "SELECT stream, type FROM events WHERE stream LIKE 'run-%%' ORDER BY position"
    ):
        if type_ == "RunClaimed":
            live.add(stream)
        elif type_ in TERMINAL:
            live.discard(stream)
        most = max(most, len(live))
    return most


class LiveFrames:
    """Reads node B's SSE stream of one run in a thread; remembers the event kinds seen."""

    def __init__(self, node: Node, run_id: str, token: str) -> None:
        self.kinds: list[str] = []
        self.conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
        self.conn.request(
            "GET", f"/api/v1/runs/{run_id}/stream", headers={"Authorization": f"Bearer {token}"}
        )
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        # close() from the test's thread can pull the socket out from under http.client mid-read
        # (it then fails with AttributeError on its own cleared fp): the stream simply ended.
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError, AttributeError):
            for line in self.resp:
                if line.startswith(b"event: "):
                    self.kinds.append(line[7:].strip().decode())

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


@pytest.fixture
def api() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI(default=(Text("done"),)) as fake:
        yield fake


def test_two_nodes_on_one_postgresql(
    tmp_path: Path, databases: Databases, api: FakeAnthropicAPI
) -> None:
    url = databases.create()
    client = tmp_path / "client"
    slow = api.script(
        "slow",
        [
            Turn([Text("Step 1: reading."), ToolUse("Read", {"file_path": "/etc/hostname"})]),
            Turn([Text("working " * 200, chunk=40)], delay=0.5),  # ~25 s: killed meanwhile
            Text("second attempt done"),
        ],
    )
    medium = api.script("medium", [Turn([Text("tick " * 12, chunk=6)], delay=0.15)] * 4)

    async def setup(r: Runner) -> tuple[str, str, str, str]:
        await r.settings.change({"max_concurrent_runs": CAP})
        tick, _ = await r.jobs.create({"name": "tick", "prompt": "say done", "cron": "* * * * *"})
        crash, _ = await r.jobs.create(
            {
                "name": "slow",
                "prompt": f"{slow} go",
                "tools": ["Read"],
                "retry": {"max_attempts": 2, "backoff_seconds": 0},
            }
        )
        wide, _ = await r.jobs.create({"name": "wide", "prompt": f"{medium} go",
                                       "overlap": "allow"})  # fmt: skip
        token = await Access(r.store).create_token("e2e")
        return tick.job_id, crash.job_id, wide.job_id, token.token

    tick_id, slow_id, wide_id, token = with_runner(url, client, setup)
    nodes = [Node("a", tmp_path, url, api), Node("b", tmp_path, url, api)]
    for node in nodes:  # one chain key for the log, as an operator copies it to each node
        node.data.mkdir(mode=0o700)
        shutil.copy(client / KEY_FILE, node.data / KEY_FILE)
    watchers: list[LiveFrames] = []
    try:
        for node in nodes:
            node.start()
        # kill -9 mid-run: whichever node claims the slow run dies; the other follows the run
        # live (its stream opened before the claim) and then recovers it.
        first = with_runner(url, client, lambda r: r.runs.request_job(slow_id)).run_id
        watchers = [LiveFrames(node, first, token) for node in nodes]
        wait(lambda: "RunOutput" in stream_types(url, first), 60, "the run to stream output")
        claimer = nodes[0].get(f"/api/v1/runs/{first}", token)["claimer"]
        ran = next(i for i, n in enumerate(nodes) if n.instance == claimer)
        dead, alive = nodes[ran], nodes[1 - ran]
        wait(lambda: "block" in watchers[1 - ran].kinds, 30,
             "the other node's live stream to show the run's output")  # fmt: skip
        assert alive.get(f"/api/v1/runs/{first}", token)["claimer"] == dead.instance
        dead_instance = dead.instance
        assert dead.stop(signal.SIGKILL) == -signal.SIGKILL
        for w in watchers:
            w.close()

        def retried() -> list[tuple[Any, ...]]:
            return sql(url, "SELECT k, doc FROM v_runs WHERE job_id = %s AND state = "
                       "'succeeded'", (slow_id,))  # fmt: skip

        wait(lambda: bool(retried()), 60, "the other node to recover the run and retry it")
        assert "RunCrashed" in stream_types(url, first), str(stream_types(url, first))
        ((retry_id, doc),) = retried()
        assert json.loads(bytes(doc))["claimer"] == alive.instance != dead_instance
        assert alive.get(f"/api/v1/runs/{retry_id}", token)["claimer"] == alive.instance

        # Both nodes again: four runs of a job that allows overlap, under a cap of two.
        dead.start()

        async def burst(r: Runner) -> list[str]:
            return [(await r.runs.request_job(wide_id)).run_id for _ in range(4)]

        wide_runs = with_runner(url, client, burst)

        def all_done() -> bool:
            return all(any(t in TERMINAL for t in stream_types(url, run)) for run in wide_runs)

        wait(all_done, 60, "the four runs to finish")
        # Every slot of the cron job that came due fired once, on one node.
        scheduled = "SELECT 1 FROM v_runs WHERE job_id = %s AND state = 'succeeded'"
        wait(lambda: bool(sql(url, scheduled, (tick_id,))), 75, "a scheduled slot to run")
    finally:
        for w in watchers:
            w.close()
        codes = [n.stop() for n in nodes if n.proc is not None]
    logs = [n.log.read_text()[-3000:] for n in nodes]
    assert codes == [0, 0], logs
    for run in wide_runs:
        types = stream_types(url, run)
        assert types.count("RunClaimed") == 1 and types.count("RunSucceeded") == 1, types
    assert max_concurrent(url) <= CAP
    slots = sql(url, "SELECT k FROM v_runs WHERE job_id = %s AND trigger = 'schedule'", (tick_id,))
    assert slots
    for (run,) in slots:
        types = stream_types(url, str(run))
        assert types.count("RunRequested") == 1, types
        assert types.count("RunClaimed") <= 1 and types.count("RunStarted") <= 1, types
    # Every claim of the whole test was taken once, with its concurrency slot.
    claims = sql(url, "SELECT count(*) FROM events WHERE type = 'RunClaimed'")[0][0]
    slots_taken = sql(url, "SELECT count(*) FROM events WHERE type = 'ConcurrencySlotTaken'")[0][0]
    assert claims == slots_taken
    started = sql(url, "SELECT count(DISTINCT data) FROM events WHERE type = 'ServiceStarted'")
    assert started[0][0] == 3  # both nodes, then the killed one again
    assert cli_processes_under(tmp_path) == []
    key = load_key(client / KEY_FILE, create=False)
    with psycopg.connect(url) as pg:  # both chains verify over every node's rows
        report = _verify_copy(pg, key, tmp_path / "scratch.db")
    assert report.ok and report.keyed == "ok" and report.plain == "ok", report.issues
