"""``kill -9`` of ``runner serve`` mid-run with background commands in the run's sandbox: every
process of the run is gone within 2 s, and recovery records how it knows before ``RunCrashed``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.sandbox import probe
from tests.e2e.test_service_processes import cli, cli_processes_under, env_for, events, serve, wait
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}"),
]

MARKERS = ("sleep 4242", "sleep 4243", "sleep 4244")
BACKGROUND = (
    "setsid nohup sleep 4242 >/dev/null 2>&1 & (sleep 4243 &) ; "
    "setsid sh -c 'sleep 4244 & exit' ; echo started"
)


def marker_processes() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(m in cmd for m in MARKERS):
            found.append(int(pid))
    return found


@pytest.fixture
def api() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI(default=(Text("done"),)) as fake:
        yield fake


def test_kill_minus_nine_leaves_no_process_of_the_run(
    tmp_path: Path, api: FakeAnthropicAPI
) -> None:
    env = env_for(tmp_path, api)
    api.script(
        "bgkill",
        [
            ToolUse("Bash", {"command": BACKGROUND, "description": "background"}),
            Turn([Text("working " * 400, chunk=20)], delay=0.5),
        ],
    )
    job = cli(env, "jobs", "create", "--name", "bg", "--prompt", "[[script:bgkill]] go",
              "--tools", "Bash", "--max-attempts", "1")  # fmt: skip
    job_id = job["job"]["job_id"]  # type: ignore[index]
    first = serve(env, tmp_path / "first.log")
    try:
        time.sleep(1.5)
        run_id = cli(env, "jobs", "run", job_id)["run_id"]

        def backgrounded() -> bool:
            rows = events(
                tmp_path,
                "SELECT data FROM events WHERE stream = ? AND type = 'RunOutput'",
                (f"run-{run_id}",),
            )
            return any("started" in str(r[0]) for r in rows) and len(marker_processes()) == 3

        wait(backgrounded, 60, "the background commands to run")
        record = json.loads((tmp_path / "runs" / str(run_id) / "process.json").read_text())
        assert record["sandboxed"] is True
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 2.0 and (
        marker_processes() or cli_processes_under(tmp_path)
    ):
        time.sleep(0.05)
    assert marker_processes() == [], "background commands outlived the service"
    assert cli_processes_under(tmp_path) == []
    second = serve(env, tmp_path / "second.log")
    try:

        def crashed() -> bool:
            return bool(
                events(
                    tmp_path,
                    "SELECT 1 FROM events WHERE stream = ? AND type = 'RunCrashed'",
                    (f"run-{run_id}",),
                )
            )

        wait(crashed, 60, "recovery to mark the run crashed")
        log = tmp_path / "second.log"
        wait(lambda: "Running on" in log.read_text(), 60, "the service to be up")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            code = second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
            raise
    assert code == 0, (tmp_path / "second.log").read_text()[-2000:]
    (detail,) = events(
        tmp_path,
        "SELECT data FROM events WHERE stream = ? AND type = 'RunCrashed'",
        (f"run-{run_id}",),
    )
    assert f"sandbox process {record['pid']} (start {record['start_ticks']}) already gone" in str(
        detail[0]
    )
    assert not (tmp_path / "runs" / str(run_id)).exists()  # its private folders are removed
