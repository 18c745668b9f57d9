"""The ``runner`` command line as a user drives it, including ``runner audit`` on a tampered log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = [sys.executable, "-m", "runner.cli"]


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data)}
    return subprocess.run([*RUNNER, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Path, str]:
    out = cli(
        tmp_path,
        "jobs",
        "create",
        "--name",
        "AI news",
        "--prompt",
        "Summarize AI news",
        "--cron",
        "0 7 * * 1-5",
        "--timezone",
        "Europe/Brussels",
    )
    assert out.returncode == 0, out.stderr
    job_id = json.loads(out.stdout)["job"]["job_id"]
    assert (
        cli(tmp_path, "jobs", "update", job_id, "--prompt", "Summarize robotics news").returncode
        == 0
    )
    assert cli(tmp_path, "jobs", "run", job_id).returncode == 0
    return tmp_path, job_id


def test_first_job_journey(populated: tuple[Path, str]) -> None:
    data, job_id = populated
    listing = cli(data, "jobs", "list")
    assert job_id in listing.stdout and "Europe/Brussels" in listing.stdout
    shown = json.loads(cli(data, "jobs", "show", job_id).stdout)
    assert shown["spec"]["prompt"] == "Summarize robotics news"
    history = cli(data, "history", f"job-{job_id}")
    assert "JobCreated" in history.stdout and "JobUpdated" in history.stdout
    runs = cli(data, "runs", "list")
    assert "requested" in runs.stdout
    audit = cli(data, "audit")
    assert audit.returncode == 0 and "audit OK" in audit.stdout
    replay = [
        json.loads(line) for line in cli(data, "replay", "--type", "JobUpdated").stdout.splitlines()
    ]
    assert [e["type"] for e in replay] == ["JobUpdated"] and replay[0]["position"] == 2
    assert cli(data, "jobs", "delete", job_id).returncode == 0
    assert cli(data, "jobs", "show", job_id).returncode == 1


def test_bad_input_exits_non_zero_with_the_field(tmp_path: Path) -> None:
    out = cli(tmp_path, "jobs", "create", "--name", "x", "--prompt", "y", "--cron", "99 * * * *")
    assert out.returncode == 1
    assert "error (cron)" in out.stderr and "Traceback" not in out.stderr
    out = cli(
        tmp_path, "jobs", "create", "--name", "x", "--prompt", "y", "--timezone", "Nowhere/City"
    )
    assert out.returncode == 1 and "error (timezone)" in out.stderr


def test_audit_names_a_changed_row(populated: tuple[Path, str]) -> None:
    data, _ = populated
    with sqlite3.connect(data / "runner.db") as db:
        db.execute(
            "UPDATE events SET data = replace(data, 'robotics', 'crypto') WHERE position = 2"
        )
    out = cli(data, "audit")
    assert out.returncode == 1
    assert "[hash] position 2" in out.stderr
    assert "[view-differs]" in out.stderr and "position 2" in out.stderr


def test_audit_names_a_deleted_row(populated: tuple[Path, str]) -> None:
    data, _ = populated
    with sqlite3.connect(data / "runner.db") as db:
        db.execute("DELETE FROM events WHERE position = 2")
    out = cli(data, "audit")
    assert out.returncode == 1
    assert "[gap] position 2" in out.stderr
    assert "[hash] position 3" in out.stderr


def test_audit_names_a_tampered_view(populated: tuple[Path, str]) -> None:
    data, job_id = populated
    with sqlite3.connect(data / "runner.db") as db:
        db.execute("UPDATE v_jobs SET doc = replace(doc, 'robotics', 'crypto')")
    out = cli(data, "audit")
    assert out.returncode == 1
    assert f"v_jobs['{job_id}'] differs" in out.stderr


def test_newer_database_is_refused(tmp_path: Path) -> None:
    assert cli(tmp_path, "jobs", "list").returncode == 0
    with sqlite3.connect(tmp_path / "runner.db") as db:
        db.execute("UPDATE store_info SET value = '99' WHERE key = 'schema_version'")
    out = cli(tmp_path, "jobs", "list")
    assert out.returncode == 2
    assert "newer Claude Runner" in out.stderr and "Traceback" not in out.stderr
