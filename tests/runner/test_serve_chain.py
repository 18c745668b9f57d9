"""``runner serve`` on a log whose chain was forged without the key: read-only, red health with
the position, nothing appended; ``runner chain-accept`` records who and why; appends resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio

from events.chain import GENESIS, data_digest, hash_v2
from runner.app import Runner
from runner.config import load_config
from tests.runner.test_cli import cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _forge(db: Path) -> int:
    """Rewrite the first job's prompt and recompute the plain chain (no key): returns its position."""
    conn = sqlite3.connect(db)
    pos, data = conn.execute(
        "SELECT position, data FROM events WHERE type = 'JobCreated' ORDER BY position LIMIT 1"
    ).fetchone()
    conn.execute(
        "UPDATE events SET data = ? WHERE position = ?",
        (data.replace(b"Summarise", b"Exfiltrate"), pos),
    )
    prev = GENESIS
    rows = conn.execute(
        "SELECT position, stream, version, type, data, meta, recorded_at FROM events "
        "ORDER BY position"
    ).fetchall()
    for p, stream, version, type_, d, meta, at in rows:
        prev = hash_v2(prev, p, stream, version, type_, data_digest(d), meta, at)
        conn.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, p))
    conn.commit()
    conn.close()
    return int(pos)


def _count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def test_serve_refuses_to_append_to_a_forged_chain_until_accepted(tmp_path: Path) -> None:
    config = load_config({"RUNNER_DATA_DIR": str(tmp_path)})

    async def populate() -> None:
        async with Runner.open(config) as r:
            for i in range(3):
                await r.jobs.create(
                    {"name": f"job {i}", "prompt": "Summarise the news", "cron": None}
                )

    anyio.run(populate)
    db = tmp_path / "runner.db"
    position = _forge(db)
    assert cli(tmp_path, "audit").returncode == 1  # the keyed chain catches it
    before = _count(db)
    port = _free_port()
    env = {
        **os.environ,
        "RUNNER_DATA_DIR": str(tmp_path),
        "RUNNER_PORT": str(port),
        "RUNNER_ADMIN_PASSWORD": "a-long-admin-password",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 90
        health: dict[str, object] = {}
        while time.monotonic() < deadline:
            assert serve.poll() is None, log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except urllib.error.HTTPError as exc:
                health = json.loads(exc.read())
                assert exc.code == 503
                break
            except OSError:
                time.sleep(0.2)
                continue
            raise AssertionError("healthz answered 200 on a forged chain")
        assert health.get("read_only") is True and health.get("position") == position
        assert f"position {position}" in str(health.get("detail"))
        refused = cli(tmp_path, "jobs", "create", "--name", "x", "--prompt", "y")
        assert refused.returncode == 2 and f"position {position}" in refused.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    assert "READ-ONLY" in log.read_text()
    assert _count(db) == before  # nothing appended: no ServiceStarted, no ServiceStopped
    accepted = cli(tmp_path, "chain-accept", "--by", "alice", "--reason", "known incident 42")
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted by alice" in accepted.stdout
    hist = [
        json.loads(line) for line in cli(tmp_path, "history", "log", "--json").stdout.splitlines()
    ]
    assert hist[-1]["type"] == "ChainBreakAccepted" and hist[-1]["actor"] == "alice"
    assert hist[-1]["data"]["reason"] == "known incident 42"
    assert cli(tmp_path, "jobs", "create", "--name", "x", "--prompt", "y").returncode == 0
    audit = cli(tmp_path, "audit")
    assert f"accepted [mac] position {position}" in audit.stdout
