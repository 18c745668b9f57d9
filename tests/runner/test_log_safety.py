"""Erasure, backup, restore and export on a real log (hostile and fault cases included)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from events.chain import KEY_FILE, load_key
from events.ids import new_id
from events.runs import RunClaimed, RunOutput, RunRequested, RunSpec, RunStarted, RunSucceeded
from events.webhooks import WebhookReceived
from runner.app import Runner
from runner.backup import backup
from runner.config import load_config
from runner.errors import CommandError
from tests.runner.test_cli import cli

pytestmark = pytest.mark.anyio

SECRET = "sk-live-THIS-MUST-VANISH-4242"


async def _run_with_output(r: Runner, text: str) -> str:
    rid = new_id("run")
    delivery = new_id("dlv")
    await r.runs.request(
        RunRequested(
            run_id=rid,
            job_id=None,
            trigger="webhook",
            spec=RunSpec(prompt=f"print the key file (webhook said {text})"),
            webhook_id="w1",
            delivery_id=delivery,
        )
    )
    await r.store.append(
        f"run-{rid}",
        [
            RunClaimed(run_id=rid, claimer="t"),
            RunStarted(run_id=rid, workspace="/tmp/w"),
            RunOutput(run_id=rid, seq=0, kind="text", text=text),
            RunOutput(run_id=rid, seq=1, kind="tool_result", text="x", data={"out": text}),
            RunSucceeded(run_id=rid, result_text=f"done: {text}"),
        ],
    )
    await r.store.append(
        "webhook-w1",
        [
            WebhookReceived(
                webhook_id="w1",
                delivery_id=delivery,
                dedupe_key="k",
                run_id=rid,
                headers={"x-sig": "***"},
                body=json.dumps({"leak": text}),
                body_is_json=True,
                verification="hmac",
            )
        ],
    )
    return rid


def _file_bytes(data: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data.glob("runner.db*") if p.is_file())


async def test_erasure_keeps_the_audit_clean_and_the_bytes_gone(tmp_path: Path) -> None:
    config = load_config({"RUNNER_DATA_DIR": str(tmp_path)})
    async with Runner.open(config) as r:
        rid = await _run_with_output(r, SECRET)
        keep = await _run_with_output(r, "an ordinary run")
        assert SECRET.encode() in _file_bytes(tmp_path)
        result = await r.erasure.erase_run(rid, by="operator:alice", reason="leaked a key")
        # the webhook-started prompt, 2 outputs, the result, the webhook body
        assert len(result["erased_positions"]) == 5
        assert (await r.queries.run(rid)).spec.prompt == "[erased]"
        rows = await r.store.query("SELECT doc FROM v_run_output WHERE run_id = ?", (rid,))
        assert rows and all(b"erased by operator:alice" in bytes(d[0]) for d in rows)
        run = await r.queries.run(rid)
        assert run.result_text == "[erased]"
        history = [rec.type for rec in await r.store.read_stream(f"run-{rid}")]
        assert history[-1] == "ContentErased"
        with pytest.raises(CommandError, match="no output"):
            await r.erasure.erase_run(rid, by="operator:alice", reason="again")
        assert SECRET.encode() not in _file_bytes(tmp_path)  # db and WAL, after the checkpoint
        other = await r.queries.run(keep)
        assert "ordinary" in other.result_text
    assert SECRET.encode() not in _file_bytes(tmp_path)
    audit = cli(tmp_path, "audit")
    assert audit.returncode == 0, audit.stderr
    assert "keyed chain intact" in audit.stdout and "5 erased row(s)" in audit.stdout
    exported = cli(tmp_path, "export").stdout.splitlines()
    erased = [json.loads(line) for line in exported if '"erased": true' in line]
    assert len(erased) == 5 and SECRET not in "\n".join(exported)


async def test_a_forged_erasure_is_reported(tmp_path: Path) -> None:
    """Hostile: someone with file access marks a row erased without a ContentErased event."""
    config = load_config({"RUNNER_DATA_DIR": str(tmp_path)})
    async with Runner.open(config) as r:
        await _run_with_output(r, "evidence")
    conn = sqlite3.connect(tmp_path / "runner.db")
    (pos, data) = conn.execute(
        "SELECT position, data FROM events WHERE type = 'RunOutput' LIMIT 1"
    ).fetchone()
    import hashlib

    conn.execute("INSERT INTO erased VALUES (?, ?)", (pos, hashlib.sha256(data).hexdigest()))
    conn.execute(
        "UPDATE events SET data = replace(data, 'evidence', '[erased]') WHERE position = ?", (pos,)
    )
    conn.commit()
    conn.close()
    audit = cli(tmp_path, "audit")
    assert (
        audit.returncode == 1 and "[erased]" in audit.stderr and "no ContentErased" in audit.stderr
    )


async def test_backup_under_concurrent_writes_restores_to_an_identical_verified_log(
    tmp_path: Path,
) -> None:
    data = tmp_path / "live"
    config = load_config({"RUNNER_DATA_DIR": str(data)})
    copy = tmp_path / "off-site" / "runner-backup.db"
    copy.parent.mkdir()
    progress: list[int] = []
    async with Runner.open(config) as r:
        for i in range(30):
            await _run_with_output(r, f"line {i}")
        stop = anyio.Event()
        written = 0

        async def writer() -> None:
            nonlocal written
            while not stop.is_set():
                await _run_with_output(r, f"while backing up {written}")
                written += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await anyio.sleep(0.2)
            key = load_key(data / KEY_FILE, create=False)
            result = await anyio.to_thread.run_sync(
                lambda: backup(config.db_path, copy, key, lambda d, t: progress.append(d))
            )
            stop.set()
        assert written > 0 and result.events > 30 * 7
    assert copy.stat().st_mode & 0o777 == 0o600
    # Restore into a fresh data dir (the key travels separately, as documented).
    fresh = tmp_path / "restored"
    fresh.mkdir()
    shutil.copy(data / KEY_FILE, fresh / KEY_FILE)
    out = cli(fresh, "restore", str(copy))
    assert out.returncode == 0, out.stderr
    assert cli(fresh, "audit").returncode == 0
    # Identical: every restored row equals the live row at the same position.
    cols = "position, stream, version, type, data, meta, recorded_at, hash, mac"
    a = sqlite3.connect(data / "runner.db").execute(f"SELECT {cols} FROM events ORDER BY position")
    b = sqlite3.connect(fresh / "runner.db").execute(f"SELECT {cols} FROM events ORDER BY position")
    restored = b.fetchall()
    assert len(restored) == result.events
    assert restored == a.fetchall()[: len(restored)]


def _backup_cli(data: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return cli(data, "backup", str(target))


async def test_restore_refuses_a_broken_or_newer_copy(tmp_path: Path) -> None:
    data = tmp_path / "live"
    config = load_config({"RUNNER_DATA_DIR": str(data)})
    async with Runner.open(config) as r:
        await _run_with_output(r, "hello")
    good = tmp_path / "good.db"
    assert _backup_cli(data, good).returncode == 0
    broken = tmp_path / "broken.db"
    shutil.copy(good, broken)
    conn = sqlite3.connect(broken)
    conn.execute(
        "UPDATE events SET data = replace(data, 'hello', 'HELLO') WHERE type = 'RunOutput'"
    )
    conn.commit()
    conn.close()
    out = cli(data, "restore", str(broken))
    assert out.returncode == 1 and "does not verify" in out.stderr and "position" in out.stderr
    newer = tmp_path / "newer.db"
    shutil.copy(good, newer)
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE store_info SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    out = cli(data, "restore", str(newer))
    assert out.returncode == 1 and "newer Claude Runner" in out.stderr
    assert "Traceback" not in out.stderr
    async with Runner.open(config):  # the live database is open: restoring over it is refused
        out = cli(data, "restore", str(good))
        assert out.returncode == 1 and "in use" in out.stderr
    out = cli(data, "restore", str(good))
    assert out.returncode == 0 and "before-restore" in out.stdout


def test_backup_to_an_unwritable_or_full_target_says_so_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "live"
    config = load_config({"RUNNER_DATA_DIR": str(data)})

    async def populate() -> None:
        async with Runner.open(config) as r:
            for i in range(20):
                await _run_with_output(r, "x" * 2000 + str(i))

    anyio.run(populate)
    out = _backup_cli(data, tmp_path / "no-such-dir" / "b.db")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "cannot be written" in out.stderr
    existing = tmp_path / "exists.db"
    existing.write_text("x")
    out = _backup_cli(data, existing)
    assert out.returncode == 1 and "never overwrite" in out.stderr
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = _backup_cli(data, small / "b.db")
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "full" in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert not list(small.iterdir())  # no partial file left
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_erase_from_the_cli_needs_a_reason(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runner.cli", "erase", "run_x"],
        capture_output=True,
        text=True,
        env={**os.environ, "RUNNER_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert out.returncode == 2 and "--reason" in out.stderr


async def test_export_masks_secrets_like_replay_and_takes_no_write_lock(tmp_path: Path) -> None:
    from events.system import AdminCreated

    config = load_config({"RUNNER_DATA_DIR": str(tmp_path)})
    async with Runner.open(config) as r:
        await r.store.append(
            "admin-admin", [AdminCreated(username="admin", password_hash="$argon2id$SECRETHASH")]
        )
        conn = sqlite3.connect(tmp_path / "runner.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # another writer holds the lock: export still reads
        try:
            out = cli(tmp_path, "export")
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    admin = next(x for x in lines if x["type"] == "AdminCreated")
    assert admin["data"]["password_hash"] == "[redacted]" and "SECRETHASH" not in out.stdout
    assert [x["position"] for x in lines] == list(range(1, len(lines) + 1))
