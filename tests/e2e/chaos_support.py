"""Helpers of the chaos tests: real ``runner serve`` processes, raw old rows, a small disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from events.chain import KEY_FILE, data_digest, hash_v2, load_key, mac_link
from events.codec import decode_row
from events.sqlite_schema import EVENT_COLUMNS
from tests.e2e.test_service_processes import events


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def cli_json(env: dict[str, str], *args: str) -> dict[str, object]:
    out = run_cli(env, *args)
    assert out.returncode == 0, out.stderr
    data: dict[str, object] = json.loads(out.stdout)
    return data


def wait_for_log(log: Path, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {log}: {log.read_text()[-2000:]}")


def duplicates(data: Path) -> list[str]:
    """Run streams with more than one claim, start or terminal event (a slot run twice)."""
    terminal = ("RunSucceeded", "RunFailed", "RunTimedOut", "RunCancelled", "RunCrashed",
                "RunSkipped")  # fmt: skip
    per: dict[str, list[str]] = {}
    for stream, type_ in events(data, "SELECT stream, type FROM events WHERE stream LIKE 'run-%'"):
        per.setdefault(str(stream), []).append(str(type_))
    bad = []
    for stream, types in per.items():
        if (types.count("RunClaimed") > 1 or types.count("RunStarted") > 1
                or sum(types.count(t) for t in terminal) > 1):  # fmt: skip
            bad.append(f"{stream}: {types}")
    return bad


def inject_old_job_created(db: Path, job_id: str, name: str, cron: str) -> None:
    """Append, as an old release did, a ``JobCreated`` v1 row (the flat shape, no validation),
    chained onto the log, and fold it into the views as that release's writer would have."""
    from events.sqlite_views import SQLiteViewWriter
    from projections import make_projector

    flat = {"type": "JobCreated", "job_id": job_id, "name": name, "prompt": "old prompt",
            "cron": cron, "timeout_minutes": 5, "tools": ""}  # fmt: skip
    data = json.dumps(flat, separators=(",", ":")).encode()
    meta = b'{"actor":"seed","schema":1}'
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        projector = make_projector()
        views = SQLiteViewWriter(conn)
        projector.setup(views)
        conn.execute("BEGIN IMMEDIATE")
        projector.load(views)
        position, prev, prev_mac = conn.execute(
            "SELECT position, hash, mac FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        now_us = int(time.time() * 1_000_000)
        stream = f"job-{job_id}"
        # Chained as the log's writer chains it today (digest + keyed link), so only the old
        # *shape* of the event is what the service meets, not a broken chain.
        pos = position + 1
        digest = data_digest(data)
        row = (pos, stream, 0, "JobCreated", data, meta, now_us,
               hash_v2(prev, pos, stream, 0, "JobCreated", digest, meta, now_us))  # fmt: skip
        key = load_key(db.parent / KEY_FILE, create=False)
        mac = mac_link(key.secret, prev_mac or "", row[-1]) if key is not None else None
        conn.execute(f"INSERT INTO events ({EVENT_COLUMNS}, mac) VALUES (?,?,?,?,?,?,?,?,?)",
                     (*row, mac))  # fmt: skip
        projector.apply(views, [decode_row(row)], write=True)
        conn.execute("COMMIT")
    finally:
        conn.close()


def fill_disk(folder: Path) -> Path:
    """Write zeros into ``folder`` until the file system is full; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 512):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


@contextmanager
def small_file_system(where: Path, size: str = "32m") -> Iterator[Path | str]:
    """A tmpfs of ``size`` mounted at ``where`` (yields the reason instead when it cannot)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        yield "mounting a tmpfs needs root (CAP_SYS_ADMIN)"
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(where)], capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        yield f"cannot mount a tmpfs here: {done.stderr.strip()}"
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
