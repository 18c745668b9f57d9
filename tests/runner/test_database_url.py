"""``RUNNER_DATABASE_URL``: serve and the CLI on PostgreSQL; bad input fails at start with the
reason (host, auth, version) and a non-zero exit, never a hang or a traceback; commands that
work on the SQLite file refuse on PostgreSQL, naming what to use instead."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import events.postgres_schema
from runner.cli import main
from tests.postgres_cluster import Databases, databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

needs_pg = pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL is not installed")


def cli(data: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data), "RUNNER_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_serve_with_an_unreachable_database_exits_at_once_with_the_reason(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "RUNNER_DATA_DIR": str(tmp_path), "RUNNER_PORT": "0",
           "RUNNER_DATABASE_URL": "postgresql://runner:hunter2@127.0.0.1:1/runs"}  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "runner.cli", "serve"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    line = one_line(proc)
    assert "127.0.0.1:1" in line and "Connection refused" in line
    assert "hunter2" not in proc.stderr + proc.stdout  # the password is never shown
    assert time.monotonic() - started < 60


def test_a_url_of_another_database_kind_is_refused(tmp_path: Path) -> None:
    proc = cli(tmp_path, "mysql://root@127.0.0.1/runs", "jobs", "list")
    assert proc.returncode == 2
    assert "must be a postgresql:// URL" in one_line(proc)


@pytest.mark.parametrize(
    ("command", "instead"),
    [("backup", "pg_dump"), ("restore", "pg_restore"), ("export", "runner replay"),
     ("audit", "runner replay")],
)  # fmt: skip
def test_sqlite_file_commands_refuse_on_postgresql_naming_what_to_use(
    tmp_path: Path, command: str, instead: str
) -> None:
    args = [command, str(tmp_path / "copy")] if command in ("backup", "restore") else [command]
    proc = cli(tmp_path, "postgresql://u@127.0.0.1:1/x", *args)
    assert proc.returncode == 2
    assert instead in one_line(proc)
    assert not (tmp_path / "runner.db").exists()


@needs_pg
def test_auth_failure_names_the_role(tmp_path: Path, databases: Databases) -> None:
    url = databases.create().replace("postgres@", "nobody@")
    proc = cli(tmp_path, url, "jobs", "list")
    assert proc.returncode == 2
    assert 'role "nobody" does not exist' in one_line(proc)


@needs_pg
def test_a_too_old_server_is_refused_by_version(
    tmp_path: Path,
    databases: Databases,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(events.postgres_schema, "MIN_SERVER_VERSION", 990000)
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RUNNER_DATABASE_URL", databases.create())
    assert main(["jobs", "list"]) == 2
    err = capsys.readouterr().err
    assert "needs PostgreSQL 99 or newer" in err and "Traceback" not in err


@needs_pg
def test_the_cli_works_on_postgresql_and_erase_refuses_clearly(
    tmp_path: Path, databases: Databases
) -> None:
    url = databases.create()
    made = cli(tmp_path, url, "jobs", "create", "--name", "pg", "--prompt", "p", "--manual")
    assert made.returncode == 0, made.stderr
    listed = cli(tmp_path / "other-node", url, "jobs", "list")
    assert listed.returncode == 0 and "pg" in listed.stdout, listed.stderr
    assert not (tmp_path / "runner.db").exists()  # nothing went to SQLite
    erase = cli(tmp_path, url, "erase", "run_000000000000", "--reason", "gdpr")
    assert erase.returncode != 0 and "Traceback" not in erase.stderr
