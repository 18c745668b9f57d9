"""Deep pages: offset against keyset (cursor) paging of the runs list, SQLite and PostgreSQL.

    .venv/bin/python -m tests.perf paging

The runs view is filled with ``RUNS`` finished runs (rows written through the backend's own
view writer, as the projector writes them), then ``Queries.runs`` (what the API and dashboard
call) reads the first page and a page ``DEPTH`` rows deep, by offset and by cursor. Printed:
median milliseconds of the page query alone and of the whole call (page + total count), and
the ratio deep/first for each way. PostgreSQL runs on a throwaway cluster where installed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec

from events.views import ViewWriter
from projections.queries import runs as run_queries
from projections.queries.runs import RunWhere
from projections.runs import RUNS, RunView
from runner.app import Runner
from runner.queries import cursor_of
from tests.helpers import make_config
from tests.perf import Row, print_table
from tests.postgres_cluster import Databases, pg_bindir, throwaway_postgres

RUNS_ROWS = 200_000
DEPTH = 190_000
PAGE = 50
REPEAT = 7
BATCH = 5_000
_encoder = msgspec.json.Encoder()


def fill(views: ViewWriter, template: RunView, n: int, begin: Callable[[], object]) -> None:
    """``n`` finished runs, one microsecond apart, written in batches."""
    columns = ["k", "pos", "doc", *(c for c, _ in RUNS.columns)]
    assert RUNS.extract is not None
    for start in range(0, n, BATCH):
        begin()
        rows = []
        for i in range(start, min(n, start + BATCH)):
            run = msgspec.structs.replace(
                template,
                run_id=f"run_{i:012d}",
                state="succeeded",
                requested_at_us=1_700_000_000_000_000 + i,
                finished_at_us=1_700_000_000_000_000 + i + 5,
            )
            rows.append((run.run_id, i + 1, _encoder.encode(run), *RUNS.extract(run)))
        views.upsert(RUNS.name, columns, rows)
        views.conn.execute("COMMIT")  # type: ignore[attr-defined]


async def median_ms(fn: Callable[[], Awaitable[Any]]) -> float:
    await fn()  # warm the caches
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def measure(label: str, runner: Runner, fill_views: Callable[[RunView], None]) -> list[Row]:
    job, _ = await runner.jobs.create({"name": "bench", "prompt": "p"}, actor="bench")
    template = await runner.runs.request_job(job.job_id)
    t0 = time.perf_counter()
    await anyio.to_thread.run_sync(fill_views, template)
    print(f"{label}: {RUNS_ROWS:,} runs written in {time.perf_counter() - t0:.1f} s")
    q, store = runner.queries, runner.store
    # The row at DEPTH, newest first: its cursor starts the deep keyset page.
    at = 1_700_000_000_000_000 + (RUNS_ROWS - DEPTH)
    deep_cursor = cursor_of(at, f"run_{RUNS_ROWS - DEPTH:012d}")
    before = (at, f"run_{RUNS_ROWS - DEPTH:012d}")
    page = {
        "offset first": lambda: store.fetch(*run_queries.newest(RunWhere(), PAGE + 1, 0)),
        "offset deep": lambda: store.fetch(*run_queries.newest(RunWhere(), PAGE + 1, DEPTH)),
        "keyset first": lambda: store.fetch(*run_queries.newest(RunWhere(), PAGE + 1)),
        "keyset deep": lambda: store.fetch(*run_queries.newest(RunWhere(before=before), PAGE + 1)),
    }
    call = {
        "offset first": lambda: q.runs(limit=PAGE),
        "offset deep": lambda: q.runs(limit=PAGE, offset=DEPTH),
        "keyset first": lambda: q.runs(limit=PAGE),
        "keyset deep": lambda: q.runs(limit=PAGE, cursor=deep_cursor),
    }
    got = await q.runs(limit=PAGE, cursor=deep_cursor)
    assert len(got.items) == PAGE and got.items[0].requested_at_us == at - 1
    rows: list[Row] = []
    figures: dict[str, tuple[float, float]] = {}
    for name in page:
        figures[name] = (await median_ms(page[name]), await median_ms(call[name]))
        rows.append(Row(f"paging {label}", f"{name} page / call (ms)",
                        f"{figures[name][0]:.2f} / {figures[name][1]:.2f}"))  # fmt: skip
    for way in ("offset", "keyset"):
        ratio = figures[f"{way} deep"][0] / max(figures[f"{way} first"][0], 1e-6)
        rows.append(
            Row(f"paging {label}", f"{way}: deep/first (page query)", f"{ratio:.1f}x",
                "≤ 3x" if way == "keyset" else "", ratio <= 3 if way == "keyset" else None)
        )  # fmt: skip
    return rows


async def on_sqlite(tmp: Path) -> list[Row]:
    from events.sqlite_views import SQLiteViewWriter

    async with Runner.open(make_config(tmp / "sqlite")) as runner:

        def fill_views(template: RunView) -> None:
            import sqlite3

            conn = sqlite3.connect(tmp / "sqlite" / "runner.db", isolation_level=None)
            try:
                fill(SQLiteViewWriter(conn), template, RUNS_ROWS, lambda: conn.execute("BEGIN"))
                conn.execute("ANALYZE")
            finally:
                conn.close()

        return await measure("sqlite", runner, fill_views)


async def on_postgres(tmp: Path, url: str) -> list[Row]:
    import psycopg

    from events.postgres_views import PostgresViewWriter

    async with Runner.open(make_config(tmp / "pg", database_url=url)) as runner:

        def fill_views(template: RunView) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                fill(PostgresViewWriter(conn), template, RUNS_ROWS, lambda: conn.execute("BEGIN"))
                conn.execute("VACUUM ANALYZE v_runs")

        return await measure("postgresql", runner, fill_views)


def main() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-paging-") as tmp:
        rows += anyio.run(on_sqlite, Path(tmp))
        if pg_bindir() is None:
            print("PostgreSQL is not installed: the PostgreSQL half is skipped")
        else:
            with throwaway_postgres(durable=True) as server:
                dbs = Databases(server)
                try:
                    rows += anyio.run(on_postgres, Path(tmp), dbs.create())
                finally:
                    dbs.drop_all()
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
