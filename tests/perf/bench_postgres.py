"""SQLite vs PostgreSQL event stores side by side, each against its raw driver, in one run.

    .venv/bin/python -m tests.perf postgres

On a throwaway *durable* cluster (fsync on, loopback TCP) started by the bench itself:
(a) raw driver ceiling: 1,000-row ``executemany`` transactions (sqlite3 vs psycopg).
(b) group commit: 200 tasks each appending single events with an exact expected version,
    events/s; ratio to the raw driver of the same backend.
(c) one append's latency on an idle store, p50/p99.
(d) cross-node delivery: a second store on the same database (another node) subscribes; the
    time from the append call on node A to the event arriving on node B, p50/p99.
(e) read + decode of the whole log (the fold/rebuild input rate), events/s.
Skipped with a message where PostgreSQL is not installed. Figures are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import psycopg

from events import EventStore, ExpectedVersion, SQLiteEventStore
from events.codec import encode_event
from events.postgres_schema import DDL as PG_DDL
from events.postgres_store import PostgresEventStore
from events.runs import RunOutput
from events.sqlite_schema import DDL as SQLITE_DDL
from tests.perf import Row, print_table
from tests.postgres_cluster import Databases, pg_bindir, throwaway_postgres

RAW_ROWS = 20_000
RAW_TXN = 1_000
WRITERS = 200
PER_WRITER = 25
LATENCY_APPENDS = 500
CROSS_EVENTS = 300


def _event(i: int, seq: int) -> RunOutput:
    return RunOutput(run_id=f"r{i}", seq=seq, kind="text", text="hello world, a line of output")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _raw_rows() -> list[tuple[int, str, int, str, bytes, bytes, int, str]]:
    data, digest = encode_event(_event(0, 0)), hashlib.sha256(b"x").hexdigest()
    return [
        (n + 1, f"run-{n % WRITERS}", n // WRITERS, "RunOutput", data, b"{}", n, digest)
        for n in range(RAW_ROWS)
    ]


def raw_sqlite(path: Path) -> float:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(SQLITE_DDL)
    rows = _raw_rows()
    started = time.perf_counter()
    for i in range(0, len(rows), RAW_TXN):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", rows[i : i + RAW_TXN])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def raw_postgres(url: str) -> float:
    rows = _raw_rows()
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in PG_DDL:
            conn.execute(stmt)
        started = time.perf_counter()
        for i in range(0, len(rows), RAW_TXN):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", rows[i : i + RAW_TXN]
                )
        return len(rows) / (time.perf_counter() - started)


async def group_commit(store: EventStore) -> float:
    async def writer(i: int) -> None:
        for seq in range(PER_WRITER):
            expected: ExpectedVersion = seq - 1 if seq else "no_stream"
            await store.append(f"run-{i}", [_event(i, seq)], expected=expected)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(WRITERS):
            tg.start_soon(writer, i)
    return WRITERS * PER_WRITER / (time.perf_counter() - started)


async def latency(store: EventStore) -> list[float]:
    out: list[float] = []
    for seq in range(LATENCY_APPENDS):
        started = time.perf_counter()
        await store.append("lat", [_event(1, seq)], expected=seq - 1 if seq else "no_stream")
        out.append((time.perf_counter() - started) * 1000)
    return out


async def cross_node(a: EventStore, b: EventStore) -> list[float]:
    """ms from node A's append call to node B's subscriber receiving the event."""
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    start = await b.head()
    async with b.subscribe(from_position=start) as sub:

        async def receive() -> None:
            async for rec in sub:
                arrived[rec.position] = time.perf_counter()
                if len(arrived) == CROSS_EVENTS:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            for seq in range(CROSS_EVENTS):
                called = time.perf_counter()
                res = await a.append("cross", [_event(2, seq)])
                sent[res.last_position] = called
                await anyio.sleep(0.002)
    return [(arrived[p] - t) * 1000 for p, t in sent.items()]


async def read_rate(store: EventStore) -> float:
    started, n = time.perf_counter(), 0
    async for _ in store.read_all():
        n += 1
    return n / (time.perf_counter() - started)


async def measure(pg_url: str, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    dbs = Databases(pg_url)

    @contextlib.asynccontextmanager
    async def sqlite_node(path: Path) -> AsyncIterator[EventStore]:
        async with SQLiteEventStore.open(path) as store:
            yield store

    @contextlib.asynccontextmanager
    async def pg_node(url: str) -> AsyncIterator[EventStore]:
        async with PostgresEventStore.open(url) as store:
            yield store

    raw = {"sqlite": raw_sqlite(tmp / "raw.db"), "postgres": raw_postgres(dbs.create())}
    targets = {"sqlite": tmp / "log.db", "postgres": dbs.create()}
    for backend, target in targets.items():
        node = sqlite_node if backend == "sqlite" else pg_node
        async with node(target) as a, node(target) as b:  # type: ignore[arg-type]
            rate = await group_commit(a)
            lat = await latency(a)
            cross = await cross_node(a, b)
            read = await read_rate(b)
        ratio = rate / raw[backend]
        rows += [
            Row(backend, f"raw driver executemany ({RAW_TXN}/txn)", f"{raw[backend]:,.0f} ev/s"),
            Row(backend, f"group commit, {WRITERS} appenders", f"{rate:,.0f} ev/s"),
            Row(backend, "group commit / raw driver", f"{ratio:.2f}"),
            Row(backend, "append p50 / p99", f"{_pct(lat, 0.5):.2f} / {_pct(lat, 0.99):.2f} ms"),
            Row(
                backend,
                "cross-node delivery p50 / p99",
                f"{_pct(cross, 0.5):.2f} / {_pct(cross, 0.99):.2f} ms",
                "p99 ≤ 100 ms",
                _pct(cross, 0.99) <= 100,
            ),
            Row(backend, "read + decode (fold input)", f"{read:,.0f} ev/s"),
        ]
    dbs.drop_all()
    return rows


def main() -> list[Row]:
    if pg_bindir() is None:
        print("PostgreSQL is not installed: skipped (apt-get install postgresql)")
        return []
    with throwaway_postgres(durable=True) as url, tempfile.TemporaryDirectory() as tmp:
        rows = anyio.run(measure, url, Path(tmp))
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
