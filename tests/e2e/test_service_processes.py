"""Whole ``runner serve`` processes: two on one database never run a slot twice; ``kill -9``
mid-run is recovered on restart (RunCrashed, then a retry) and leaves no CLI process behind."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def env_for(data: Path, api: FakeAnthropicAPI) -> dict[str, str]:
    return {
        **os.environ,
        "RUNNER_DATA_DIR": str(data),
        "RUNNER_PORT": "0",
        "RUNNER_ADMIN_PASSWORD": "correct horse battery staple",
        "RUNNER_MAX_API_RETRIES": "1",
        "ANTHROPIC_BASE_URL": api.base_url,
        "ANTHROPIC_API_KEY": "fake-key",
    }


def cli(env: dict[str, str], *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}


def serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "serve"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def events(data: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "runner.db", timeout=10) as db:
        return list(db.execute(sql, params))


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def cli_processes_under(data: Path) -> list[int]:
    """Claude Code processes whose working directory is inside ``data`` (our workspaces)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cwd.startswith(str(data)) and b"claude" in cmd:
            found.append(int(pid))
    return found


@pytest.fixture
def api() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI(default=(Text("done"),)) as fake:
        yield fake


def test_two_serve_processes_run_each_slot_exactly_once(
    tmp_path: Path, api: FakeAnthropicAPI
) -> None:
    env = env_for(tmp_path, api)
    created = cli(
        env, "jobs", "create", "--name", "tick", "--prompt", "say done", "--cron", "* * * * *"
    )
    job_id = created["job"]["job_id"]  # type: ignore[index]
    # Start just after a minute boundary so both processes are up before the next slot.
    time.sleep((math.floor(time.time() / 60) * 60 + 61 - time.time()) % 60)
    procs = [serve(env, tmp_path / f"serve{i}.log") for i in range(2)]
    try:

        def finished() -> bool:
            rows = events(
                tmp_path,
                "SELECT count(*) FROM v_runs WHERE job_id = ? AND state = 'succeeded'",
                (job_id,),
            )
            return int(rows[0][0]) >= 1

        wait(finished, 90, "the first scheduled run to succeed")
        time.sleep(1.0)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=20) for p in procs]
    assert codes == [0, 0], [(tmp_path / f"serve{i}.log").read_text()[-2000:] for i in range(2)]
    streams: dict[str, list[str]] = {}
    for stream, type_ in events(
        tmp_path,
        "SELECT stream, type FROM events WHERE stream IN "
        "(SELECT 'run-' || k FROM v_runs WHERE job_id = ?) ORDER BY position",
        (job_id,),
    ):
        streams.setdefault(str(stream), []).append(str(type_))
    ran = [t for t in streams.values() if "RunRequested" in t]
    assert ran, streams
    for types in streams.values():
        # One decision per slot, however many schedulers and claimers raced for it.
        assert types.count("RunRequested") + types.count("RunSkipped") == 1 or (
            types.count("RunRequested") == 1 and types.count("RunSkipped") <= 1
        ), types
        assert types.count("RunClaimed") <= 1 and types.count("RunStarted") <= 1, types
    instances = events(tmp_path, "SELECT count(*) FROM events WHERE type = 'ServiceStarted'")[0][0]
    assert instances == 2
    assert cli_processes_under(tmp_path) == []


def test_kill_minus_nine_mid_run_is_recovered(tmp_path: Path, api: FakeAnthropicAPI) -> None:
    env = env_for(tmp_path, api)
    api.script(
        "slow", [Turn([Text("working " * 200, chunk=40)], delay=0.5), Text("second attempt done")]
    )
    job = cli(
        env,
        "jobs",
        "create",
        "--name",
        "slow",
        "--prompt",
        "[[script:slow]] go",
        "--max-attempts",
        "2",
        "--backoff-seconds",
        "0",
    )
    job_id = job["job"]["job_id"]  # type: ignore[index]
    first = serve(env, tmp_path / "first.log")
    try:
        time.sleep(1.5)
        run_id = cli(env, "jobs", "run", job_id)["run_id"]

        def streaming() -> bool:
            return bool(
                events(
                    tmp_path,
                    "SELECT 1 FROM events WHERE stream = ? AND type = 'RunOutput'",
                    (f"run-{run_id}",),
                )
            )

        wait(streaming, 60, "the run to stream output")
        assert cli_processes_under(tmp_path), "the CLI should be running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    # The CLI notices its parent is gone (stdin closes) and exits: nothing is orphaned.
    wait(lambda: not cli_processes_under(tmp_path), 15, "the orphaned CLI to exit")
    second = serve(env, tmp_path / "second.log")
    try:

        def retried() -> bool:
            rows = events(
                tmp_path,
                "SELECT count(*) FROM v_runs WHERE job_id = ? AND trigger = 'retry' AND state = 'succeeded'",
                (job_id,),
            )
            return bool(rows[0][0] == 1)

        wait(retried, 90, "the retry to succeed")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    types = [
        r[0]
        for r in events(
            tmp_path,
            "SELECT type FROM events WHERE stream = ? ORDER BY position",
            (f"run-{run_id}",),
        )
    ]
    assert types[:3] == ["RunRequested", "RunClaimed", "RunStarted"]
    assert types[-1] == "RunCrashed"
    assert cli_processes_under(tmp_path) == []


def test_sigterm_cancels_running_runs_and_exits_cleanly(
    tmp_path: Path, api: FakeAnthropicAPI
) -> None:
    env = env_for(tmp_path, api)
    api.script("long", [Turn([Text("still going " * 400, chunk=30)], delay=0.5)])
    job = cli(env, "jobs", "create", "--name", "long", "--prompt", "[[script:long]] go")
    proc = serve(env, tmp_path / "serve.log")
    try:
        time.sleep(1.5)
        run_id = cli(env, "jobs", "run", job["job"]["job_id"])["run_id"]  # type: ignore[index]

        def running() -> bool:
            rows = events(
                tmp_path,
                "SELECT 1 FROM events WHERE stream = ? AND type = 'RunStarted'",
                (f"run-{run_id}",),
            )
            return bool(rows)

        wait(running, 60, "the run to start")
        wait(lambda: bool(cli_processes_under(tmp_path)), 30, "the CLI to be running")
        time.sleep(1.0)  # mid-stream: the fake answers slowly
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0, (tmp_path / "serve.log").read_text()[-2000:]
    assert time.monotonic() - started < 10
    last = events(
        tmp_path,
        "SELECT type, data FROM events WHERE stream = ? ORDER BY position DESC LIMIT 1",
        (f"run-{run_id}",),
    )[0]
    assert last[0] == "RunCancelled" and "shutting down" in str(last[1])
    assert events(tmp_path, "SELECT count(*) FROM events WHERE type = 'ServiceStopped'")[0][0] == 1
    assert cli_processes_under(tmp_path) == []


def test_a_failed_start_exits_non_zero_with_the_reason(
    tmp_path: Path, api: FakeAnthropicAPI
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {**env_for(tmp_path, api), "RUNNER_PORT": str(busy.getsockname()[1])}
        out = subprocess.run(
            [sys.executable, "-m", "runner.cli", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "Address already in use" in out.stderr and "Traceback" not in out.stderr
