"""The CLI under a held write lock: read-only commands answer at once, writes print one line
naming the cause and exit with the storage status (75), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runner.cli import EXIT_STORAGE


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def test_held_write_lock(tmp_path: Path) -> None:
    made = cli(tmp_path, "jobs", "create", "--name", "a", "--prompt", "p", "--cron", "0 7 * * *")
    assert made.returncode == 0, made.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, time\n"
         f"c = sqlite3.connect({str(tmp_path / 'runner.db')!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        listed = cli(tmp_path, "jobs", "list")
        assert listed.returncode == 0 and "a" in listed.stdout, listed.stderr
        refused = cli(tmp_path, "jobs", "create", "--name", "b", "--prompt", "p")
        assert refused.returncode == EXIT_STORAGE
        assert "Traceback" not in refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "storage unavailable (locked)" in lines[0], refused.stderr
    finally:
        holder.kill()
        holder.wait()
    again = cli(tmp_path, "jobs", "create", "--name", "b", "--prompt", "p")
    assert again.returncode == 0, again.stderr
    audit = cli(tmp_path, "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_bulk_cancel_from_the_cli(tmp_path: Path) -> None:
    made = cli(tmp_path, "jobs", "create", "--name", "a", "--prompt", "p", "--overlap", "allow")
    assert made.returncode == 0, made.stderr
    job_id = json.loads(made.stdout)["job"]["job_id"]
    for _ in range(3):
        assert cli(tmp_path, "jobs", "run", job_id).returncode == 0
    out = cli(tmp_path, "runs", "cancel-all", "--job", job_id, "--reason", "flood")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["cancelled"] == 3
    refused = cli(tmp_path, "runs", "cancel-all")
    assert refused.returncode == 1 and "name a job" in refused.stderr
