"""``runner migrate --to postgresql://…``: the SQLite log copied verbatim and verified both sides."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from events.chain import KEY_FILE, ChainKey, load_key
from events.postgres_store import PostgresEventStore
from events.sqlite_store import SQLiteEventStore
from runner.errors import CommandError
from runner.migrate import migrate_to_postgres
from tests.helpers import open_runner
from tests.postgres_cluster import Databases, databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

pytestmark = pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL is not installed")


def runner_cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNER_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    """A data dir whose log holds a few jobs, edits and manual runs."""
    import anyio

    async def fill() -> None:
        async with open_runner(tmp_path) as runner:
            for i in range(5):
                job, _ = await runner.jobs.create(
                    {"name": f"job {i}", "prompt": f"say {i}", "cron": "*/5 * * * *"},
                    actor="test",
                )
                await runner.jobs.pause(job.job_id, actor="test")

    anyio.run(fill)
    return tmp_path


def key_of(data: Path) -> ChainKey:
    key = load_key(data / KEY_FILE, create=False)
    assert key is not None
    return key


async def _records(store: SQLiteEventStore | PostgresEventStore) -> list[tuple[object, ...]]:
    return [
        (r.position, r.stream, r.version, r.type, r.event, r.meta, r.recorded_at_us, r.hash)
        async for r in store.read_all()
    ]


@pytest.mark.anyio
async def test_migrate_copies_the_log_verbatim(populated: Path, databases: Databases) -> None:
    url = databases.create()
    report = migrate_to_postgres(populated / "runner.db", url, key=key_of(populated))
    assert report.ok and report.events == report.target.events >= 10
    assert (report.source.keyed, report.target.keyed) == ("ok", "ok")
    async with SQLiteEventStore.open(populated / "runner.db") as src:
        before = await _records(src)
    async with PostgresEventStore.open(url) as dst:
        assert await _records(dst) == before
        assert report.head_hash == before[-1][-1]


def test_a_broken_source_copies_nothing(populated: Path, databases: Databases) -> None:
    conn = sqlite3.connect(populated / "runner.db")
    conn.execute("UPDATE events SET data = replace(data, 'say 3', 'say 9') WHERE type='JobCreated'")
    conn.commit()
    conn.close()
    url = databases.create()
    with pytest.raises(CommandError, match=r"does not verify.*nothing was copied"):
        migrate_to_postgres(populated / "runner.db", url, key=key_of(populated))
    with psycopg.connect(url) as pg:  # not even the tables
        assert pg.execute("SELECT to_regclass('public.events')").fetchone() == (None,)


def test_a_non_empty_target_is_refused(populated: Path, databases: Databases) -> None:
    url = databases.create()
    migrate_to_postgres(populated / "runner.db", url)
    with pytest.raises(CommandError, match="already holds"):
        migrate_to_postgres(populated / "runner.db", url)


def test_cli_migrate_and_its_refusals(populated: Path, databases: Databases) -> None:
    url = databases.create()
    done = runner_cli(populated, "migrate", "--to", url)
    assert done.returncode == 0, done.stderr
    assert "chain verified on SQLite" in done.stdout
    again = runner_cli(populated, "migrate", "--to", url)
    assert again.returncode == 1 and "already holds" in again.stderr
    assert "Traceback" not in again.stderr
    wrong = runner_cli(populated, "migrate", "--to", "mysql://x@127.0.0.1/db")
    assert wrong.returncode == 2 and "postgresql://" in wrong.stderr
    dead = runner_cli(populated, "migrate", "--to", "postgresql://u:pw@127.0.0.1:9/none")
    assert dead.returncode == 2 and "127.0.0.1:9" in dead.stderr
    assert "Traceback" not in dead.stderr and ":pw@" not in dead.stderr
