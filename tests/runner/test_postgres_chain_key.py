"""The keyed chain on PostgreSQL under several nodes: one key for the log, recorded by the first
node; a node without it opens read-only with the reason (never appends an unkeyed or
differently keyed row); with the key copied over, every node's rows verify on both chains."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from events.chain import KEY_FILE, load_key
from events.errors import ChainBrokenError
from runner.app import Runner
from runner.migrate import _verify_copy
from tests.helpers import make_config
from tests.postgres_cluster import Databases, databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL is not installed"),
]


async def test_nodes_share_one_chain_key(tmp_path: Path, databases: Databases) -> None:
    url = databases.create()
    a, b = tmp_path / "a", tmp_path / "b"
    async with Runner.open(make_config(a, database_url=url)) as first:
        await first.jobs.create({"name": "from a", "prompt": "p"})
    key = load_key(a / KEY_FILE, create=False)
    assert key is not None
    async with Runner.open(make_config(b, database_url=url)) as second:
        assert not second.store.chain.ok and "copy chain.key" in second.store.chain.detail
        assert [j.spec.name for j in await second.queries.all_jobs()] == ["from a"]  # reads work
        with pytest.raises(ChainBrokenError, match=key.key_id):
            await second.jobs.create({"name": "from b", "prompt": "p"})
    (b / KEY_FILE).unlink(missing_ok=True)
    shutil.copy(a / KEY_FILE, b / KEY_FILE)
    async with Runner.open(make_config(b, database_url=url)) as second:
        assert second.store.chain.ok
        await second.jobs.create({"name": "from b", "prompt": "p"})
    with psycopg.connect(url) as pg:
        report = _verify_copy(pg, key, tmp_path / "scratch.db")
        macs = pg.execute("SELECT count(*) FROM events WHERE mac IS NOT NULL").fetchone()
    assert report.ok and report.keyed == "ok" and report.plain == "ok", report.issues
    assert macs is not None and macs[0] >= 2  # one per transaction, from both nodes


async def test_a_log_written_without_a_key_stays_on_the_plain_chain(
    tmp_path: Path, databases: Databases
) -> None:
    from events.postgres_store import PostgresEventStore
    from tests.events.contract_support import ev

    url = databases.create()
    async with PostgresEventStore.open(url) as store:  # no key: plain chain only
        await store.append("s", [ev("plain")])
    async with Runner.open(make_config(tmp_path, database_url=url)) as runner:
        assert runner.store.chain.ok
        await runner.jobs.create({"name": "later", "prompt": "p"})
    with psycopg.connect(url) as pg:
        macs = pg.execute("SELECT count(*) FROM events WHERE mac IS NOT NULL").fetchone()
        report = _verify_copy(pg, None, tmp_path / "scratch.db")
    assert macs == (0,) and report.plain == "ok"
