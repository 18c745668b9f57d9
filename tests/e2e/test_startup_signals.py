"""A signal at any point of ``runner serve``'s start-up ends it cleanly: the process exits 0
within a bound, the stop is recorded when the start was, no lease is left behind and the log
audits clean. (Before: a SIGTERM while the web server started was logged and ignored.)"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_service_processes import env_for
from tests.fakes.anthropic_api import FakeAnthropicAPI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Log lines marking the points of start-up at which the signal is sent.
POINTS = (
    "marked",  # never printed on a fresh log: the signal goes as soon as anything is logged
    "registered built-in tool servers",
    "starting component web",
    "Claude Runner is running",
)


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        return int(conn.execute(sql).fetchone()[0])


@pytest.mark.parametrize("point", POINTS)
def test_sigterm_during_start_up_ends_the_service(tmp_path: Path, point: str) -> None:
    with FakeAnthropicAPI() as api:
        env = env_for(tmp_path, api)
        log = tmp_path / "serve.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "serve"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                text = log.read_text(errors="replace")
                if point in text or (point == "marked" and text.strip()):
                    break
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    db = tmp_path / "runner.db"
    started = count(db, "SELECT count(*) FROM events WHERE type = 'ServiceStarted'")
    stopped = count(db, "SELECT count(*) FROM events WHERE type = 'ServiceStopped'")
    assert started == stopped, text[-3000:]
    if count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'leases'"):
        assert count(db, "SELECT count(*) FROM leases") == 0
    audit = subprocess.run(
        [sys.executable, "-m", "runner.cli", "audit"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
