"""The chain at start and the online backup, at size.

(a) build a log of ``EVENTS`` events (env ``BENCH_CHAIN_EVENTS``, default 500,000) through the
    journal, then time: the first full verification of both chains (the upgrade / no-checkpoint
    case), a start from the checkpoint (what ``runner serve`` pays normally), and ``runner audit``'s
    chain walk rate; extrapolated to 2.5 M events.
(b) backup under write load: ``VACUUM INTO`` against the step-wise backup API (256 pages a step)
    while another process appends continuously; each gets ``BACKUP_DEADLINE`` seconds.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from events.chain import (
    KEY_FILE,
    load_key,
    mac_linker,
    verify_since_checkpoint,
    walk,
    write_checkpoint,
)
from events.envelope import AppendRequest
from events.runs import RunOutput
from events.sqlite_journal import Journal, NullProjector
from events.sqlite_schema import connect, ensure_schema
from tests.perf import Row, print_table

EVENTS = int(os.environ.get("BENCH_CHAIN_EVENTS", "500000"))
BATCH = 200  # what group commit holds with 200 concurrent appenders: one MAC per 200 rows
BACKUP_DEADLINE = 60.0


def build(db: Path, n: int) -> float:
    conn = connect(db)
    ensure_schema(conn)
    key = load_key(db.parent / KEY_FILE, create=True)
    journal = Journal(conn, NullProjector(), key)
    started = time.perf_counter()
    done = 0
    while done < n:
        units = [
            [
                AppendRequest(
                    stream=f"run-{(done + i) // 50}",
                    events=(
                        RunOutput(run_id="r", seq=i, kind="text", text="a line of output " * 4),
                    ),
                )
            ]
            for i in range(min(BATCH, n - done))
        ]
        journal.commit_batch(units)
        done += len(units)
    conn.close()
    return time.perf_counter() - started


def _writer(db: Path, seconds: float) -> subprocess.Popen[bytes]:
    code = textwrap.dedent(f"""
        import sqlite3, time
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        c.execute("PRAGMA busy_timeout=10000")
        end = time.time() + {seconds}
        while time.time() < end:
            c.execute("BEGIN IMMEDIATE")
            c.execute("CREATE TABLE IF NOT EXISTS noise(x)")
            c.executemany("INSERT INTO noise VALUES (?)", [(b"x" * 200,)] * 200)
            c.execute("COMMIT")
            time.sleep(0.005)
    """)
    return subprocess.Popen([sys.executable, "-c", code])


def bench_backup(db: Path, tmp: Path) -> tuple[str, str]:
    out = []
    for name in ("vacuum_into", "backup_api"):
        target = tmp / f"{name}.db"
        writer = _writer(db, BACKUP_DEADLINE + 5)
        time.sleep(0.5)
        src = sqlite3.connect(str(db), isolation_level=None)
        started = time.perf_counter()
        finished = True
        if name == "vacuum_into":
            src.execute("VACUUM INTO ?", (str(target),))
        else:
            dst = sqlite3.connect(str(target))

            def check(status: int, remaining: int, total: int, t0: float = started) -> None:
                if time.perf_counter() - t0 > BACKUP_DEADLINE:
                    raise TimeoutError

            try:
                src.backup(dst, pages=256, progress=check)
            except TimeoutError:
                finished = False
            dst.close()
        elapsed = time.perf_counter() - started
        src.close()
        writer.kill()
        writer.wait()
        out.append(f"{elapsed:.1f} s" if finished else f"unfinished after {elapsed:.0f} s")
    return out[0], out[1]


def main() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as d:
        tmp = Path(d)
        db = tmp / "runner.db"
        build_s = build(db, EVENTS)
        key = load_key(tmp / KEY_FILE, create=False)
        assert key is not None
        conn = sqlite3.connect(db)
        t0 = time.perf_counter()
        res = walk(conn, key)
        full = time.perf_counter() - t0
        assert not res.breaks and res.checked == EVENTS
        conn.execute("BEGIN IMMEDIATE")
        write_checkpoint(conn, key, res.last_position, res.last_hash, res.last_mac)
        conn.execute("COMMIT")
        t0 = time.perf_counter()
        verify_since_checkpoint(conn, key)
        start = time.perf_counter() - t0
        conn.close()
        link = mac_linker(key.secret)
        t0 = time.perf_counter()
        mac = ""
        for _ in range(EVENTS):
            mac = link(mac, res.last_hash)
        per_mac_us = (time.perf_counter() - t0) / EVENTS * 1e6
        size = db.stat().st_size
        vac, api = bench_backup(db, tmp)
    per_us = full / EVENTS * 1e6
    rows = [
        Row("chain", f"build {EVENTS:,} events (journal)", f"{build_s:.1f} s", ""),
        Row("chain", "full verify, both chains", f"{full:.1f} s ({per_us:.1f} us/ev)", ""),
        Row("chain", "full verify extrapolated to 2.5 M", f"{per_us * 2.5:.1f} s", ""),
        Row(
            "chain",
            "worst case: a MAC on every row (1-event txns)",
            f"+{per_mac_us:.1f} us/ev -> {(per_us + per_mac_us) * 2.5:.1f} s for 2.5 M",
            "",
        ),
        Row(
            "chain",
            "start from checkpoint (serve)",
            f"{start * 1000:.1f} ms",
            "<= 1 s",
            start <= 1.0,
        ),
        Row("chain", f"backup VACUUM INTO {size >> 20} MiB, writes", vac, "bounded"),
        Row("chain", "backup API 256 pages/step, writes", api, ""),
    ]
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
