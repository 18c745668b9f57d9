"""Projection benchmarks (issue #2 b).

In-memory fold of every projection over a 1,000,000-event log vs the raw read + msgspec decode
of the same rows (target ≥ 50 %), and a full rebuild into the view tables (events/s).
The log is a realistic mix: per run RunRequested, RunClaimed, RunStarted, 14 RunOutput,
2 RunUsage and a terminal event, over 100 jobs. ``BENCH_EVENTS`` scales it down.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

from events.catalogue import schema_version, type_name
from events.codec import GENESIS_HASH, chain_hash, decode_row, encode_event, encode_meta
from events.envelope import Meta
from events.jobs import JobCreated, JobSpec
from events.runs import (
    RunClaimed,
    RunOutput,
    RunRequested,
    RunResult,
    RunSpec,
    RunStarted,
    RunSucceeded,
    RunUsage,
    Usage,
)
from events.sqlite_schema import DDL, EVENT_COLUMNS
from projections import ALL_PROJECTIONS, Folder
from projections.rebuild import iter_rows, rebuild_into
from tests.perf import Row, print_table

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))


def generate(path: Path, n: int) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(DDL)
    rows: list[tuple[object, ...]] = []
    prev, pos, now = GENESIS_HASH, 0, 1_795_320_000_000_000
    versions: dict[str, int] = {}

    def add(stream: str, ev: object) -> None:
        nonlocal prev, pos
        pos += 1
        v = versions.get(stream, -1) + 1
        versions[stream] = v
        t = type_name(ev)  # type: ignore[arg-type]
        data = encode_event(ev)  # type: ignore[arg-type]
        meta = encode_meta(Meta(actor="bench", schema=schema_version(t)))
        prev = chain_hash(prev, pos, stream, v, t, data, meta, now + pos)
        rows.append((pos, stream, v, t, data, meta, now + pos, prev))
        if len(rows) >= 20_000:
            flush()

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        rows.clear()

    for j in range(100):
        add(
            f"job-j{j}",
            JobCreated(
                job_id=f"j{j}", spec=JobSpec(name=f"job {j}", prompt="p", cron="*/5 * * * *")
            ),
        )
    r = 0
    while pos < n:
        rid, jid = f"r{r}", f"j{r % 100}"
        s = f"run-{rid}"
        add(
            s,
            RunRequested(
                run_id=rid,
                job_id=jid,
                trigger="schedule",
                spec=RunSpec(prompt="p", model="claude-sonnet-4-5"),
                scheduled_for=float(r),
            ),
        )
        add(s, RunClaimed(run_id=rid, claimer="bench"))
        add(s, RunStarted(run_id=rid, workspace="/w", model="claude-sonnet-4-5"))
        for k in range(14):
            add(
                s,
                RunOutput(
                    run_id=rid,
                    seq=k,
                    kind="text" if k % 3 else "tool_use",
                    text="Lorem ipsum dolor sit amet " * 4,
                    tool_name=None if k % 3 else "mcp__x__y",
                ),
            )
            if k in (4, 9):
                add(
                    s,
                    RunUsage(
                        run_id=rid,
                        message_id=f"m{k}",
                        model="claude-sonnet-4-5",
                        usage=Usage(input_tokens=120, output_tokens=1),
                    ),
                )
        add(
            s,
            RunSucceeded(
                run_id=rid,
                result_text="done",
                result=RunResult(
                    cost_usd=0.001,
                    model="claude-sonnet-4-5",
                    usage=Usage(input_tokens=240, output_tokens=14),
                ),
            ),
        )
        r += 1
    flush()
    conn.close()
    return pos


def read_decode(path: Path) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    t = time.perf_counter()
    n = 0
    for row in iter_rows(conn):
        decode_row(row)
        n += 1
    dt = time.perf_counter() - t
    conn.close()
    return n, dt


def fold(path: Path) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    folder = Folder(ALL_PROJECTIONS)
    t = time.perf_counter()
    n = 0
    for row in iter_rows(conn):
        folder.apply(decode_row(row))
        n += 1
        if n % 1000 == 0:
            folder.commit()
    folder.commit()
    dt = time.perf_counter() - t
    conn.close()
    return n, dt


def main() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.db"
        t = time.perf_counter()
        n = generate(db, EVENTS)
        print(f"generated {n:,} events in {time.perf_counter() - t:.1f} s")
        read_decode(db)  # warm the page cache
        nb, tb = read_decode(db)
        nf, tf = fold(db)
        base, folded = nb / tb, nf / tf
        ratio = folded / base
        print(
            f"(b) raw read + decode: {base:,.0f} ev/s; read + decode + fold: {folded:,.0f} ev/s; ratio {ratio:.0%}"
        )
        rows.append(Row("projections", "read+decode (baseline)", f"{base:,.0f} ev/s"))
        rows.append(Row("projections", "in-memory fold", f"{folded:,.0f} ev/s"))
        rows.append(Row("projections", "fold / baseline", f"{ratio:.0%}", "≥ 50%", ratio >= 0.5))
        src = sqlite3.connect(db)
        scratch = sqlite3.connect(Path(tmp) / "scratch.db", isolation_level=None)
        scratch.execute("PRAGMA journal_mode=WAL")
        t = time.perf_counter()
        count = rebuild_into(src, scratch, ALL_PROJECTIONS)
        dt = time.perf_counter() - t
        print(
            f"full rebuild into view tables: {count:,} events in {dt:.1f} s = {count / dt:,.0f} ev/s"
        )
        rows.append(Row("projections", "full rebuild", f"{count / dt:,.0f} ev/s"))
        src.close()
        scratch.close()
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
