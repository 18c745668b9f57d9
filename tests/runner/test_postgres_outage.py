"""Fault: the PostgreSQL database goes away under a running Runner (sessions killed, new ones
refused, as in a restart or failover). Reads and appends answer the typed storage fault (503 /
exit 75 upstream), nothing is half-written, and both work again once the database is back."""

from __future__ import annotations

from pathlib import Path

import anyio
import psycopg
import pytest

from events.errors import StorageUnavailable
from runner.app import Runner
from tests.helpers import make_config
from tests.postgres_cluster import Databases, databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL is not installed"),
]


def outage(server: str, name: str, *, down: bool) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'false' if down else 'true'}")
        if down:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


async def test_an_outage_is_a_storage_fault_and_heals(
    tmp_path: Path, databases: Databases, pg_server: str
) -> None:
    url = databases.create()
    name = url.rsplit("/", 1)[1]
    async with Runner.open(make_config(tmp_path, database_url=url)) as runner:
        job, _ = await runner.jobs.create({"name": "before", "prompt": "p"})
        outage(pg_server, name, down=True)
        try:
            with anyio.fail_after(30), pytest.raises(StorageUnavailable) as read:
                await runner.queries.runs()
            assert read.value.cause == "unreachable" and "ALLOW_CONNECTIONS" not in str(read.value)
            with anyio.fail_after(30), pytest.raises(StorageUnavailable) as write:
                await runner.jobs.create({"name": "during", "prompt": "p"})
            assert write.value.retry_after > 0
        finally:
            outage(pg_server, name, down=False)
        with anyio.fail_after(30):
            while True:
                try:
                    made, _ = await runner.jobs.create({"name": "after", "prompt": "p"})
                    break
                except StorageUnavailable:
                    await anyio.sleep(0.2)
        names = [j.spec.name for j in await runner.queries.all_jobs()]
        assert names == ["before", "after"]  # "during" was never half-written
        assert (await runner.queries.job(made.job_id)).spec.name == "after"
        assert job.job_id != made.job_id
