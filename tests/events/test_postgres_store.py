"""``PostgresEventStore`` against the same store contract as SQLite, plus multi-node behaviour.

Runs on a throwaway cluster (``tests.postgres_cluster``); skipped with the reason where
PostgreSQL is not installed (``make test`` installs it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import psycopg
import pytest

from events import EventStore, Subscription
from events.chain import ChainKey, data_digest, hash_v2
from events.codec import GENESIS_HASH
from events.postgres_schema import StoreUnavailableError, check_server
from events.postgres_store import PostgresEventStore
from events.subscription import CatchUpSubscription
from tests.events.contract import EventStoreContract
from tests.events.contract_support import OpenStore, assert_log_well_formed, collect, ev, tags
from tests.postgres_cluster import Databases, databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL is not installed"),
]


def verify_pg_chain(url: str) -> int:
    """Recompute the hash chain over every row; positions must be 1..n with no gap."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT position, stream, version, type, data, meta, recorded_at, hash "
            "FROM events ORDER BY position"
        ).fetchall()
    prev = GENESIS_HASH
    for n, (position, stream, version, type_, data, meta, at, stored) in enumerate(rows, 1):
        assert position == n, f"gap before position {position}"
        digest = data_digest(bytes(data))
        prev = hash_v2(prev, position, stream, version, type_, digest, bytes(meta), at)
        assert stored == prev, f"hash chain broken at position {position}"
    return len(rows)


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def open_store(self, databases: Databases) -> OpenStore:
        urls: dict[str, str] = {}

        @contextlib.asynccontextmanager
        async def factory(name: str = "main") -> AsyncIterator[EventStore]:
            if name not in urls:
                urls[name] = databases.create()
            async with PostgresEventStore.open(urls[name]) as store:
                yield store

        return factory

    def lagging_subscribe(self, store: EventStore, from_position: int) -> Subscription:
        assert isinstance(store, PostgresEventStore)
        return CatchUpSubscription(store.bus, store._read_page, from_position, page=100, buffer=3)

    def assert_lagged(self, sub: Subscription) -> None:
        assert isinstance(sub, CatchUpSubscription)
        assert sub.lag_recoveries > 0


async def test_two_nodes_share_one_gap_free_chained_log(databases: Databases) -> None:
    """Two stores (as two nodes) append concurrently; each sees every event of both, in order."""
    url = databases.create()
    per_node, writers = 60, 6
    total = 2 * per_node * writers
    async with PostgresEventStore.open(url) as one, PostgresEventStore.open(url) as two:
        subs = [one.subscribe(), two.subscribe()]
        seen: dict[int, list[int]] = {}

        async def watch(i: int, sub: Subscription) -> None:
            got = await collect(sub, total, limit_s=60)
            seen[i] = [r.position for r in got]

        async def write(store: PostgresEventStore, node: str, w: int) -> None:
            for k in range(per_node):
                await store.append(f"{node}-{w}", [ev(f"{node}{w}:{k}")], expected=k - 1)

        async with anyio.create_task_group() as tg:
            for i, sub in enumerate(subs):
                tg.start_soon(watch, i, sub)
            for w in range(writers):
                tg.start_soon(write, one, "a", w)
                tg.start_soon(write, two, "b", w)
        for sub in subs:
            await sub.aclose()
        log = [r async for r in one.read_all()]
    assert seen[0] == seen[1] == list(range(1, total + 1))
    assert_log_well_formed(log)
    assert verify_pg_chain(url) == total
    for node in "ab":
        for w in range(writers):
            assert [t for t in tags(log) if t.startswith(f"{node}{w}:")] == [
                f"{node}{w}:{k}" for k in range(per_node)
            ]


async def test_a_conflict_across_nodes_is_a_concurrency_error(databases: Databases) -> None:
    url = databases.create()
    async with PostgresEventStore.open(url) as one, PostgresEventStore.open(url) as two:
        await one.append("slot", [ev("first")], expected="no_stream")
        from events import ConcurrencyError

        with pytest.raises(ConcurrencyError):
            await two.append("slot", [ev("second")], expected="no_stream")
        assert tags(await two.read_stream("slot")) == ["first"]


async def test_the_log_refuses_deletes_and_rewrites(databases: Databases) -> None:
    url = databases.create()
    async with PostgresEventStore.open(url) as store:
        await store.append("s", [ev("a")])
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in (
            "DELETE FROM events",
            "UPDATE events SET hash = 'x'",
            "UPDATE events SET position = 7",
            "TRUNCATE events",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
    assert verify_pg_chain(url) == 1


async def test_writer_survives_a_dropped_session(databases: Databases) -> None:
    """The server ends the writer's session (restart, failover): the next append reconnects."""
    url = databases.create()
    async with PostgresEventStore.open(url) as store:
        await store.append("s", [ev("before")])
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        outcome: list[str] = []
        with anyio.fail_after(30):
            while not outcome:
                try:
                    await store.append("s", [ev("after")], expected=0)
                    outcome.append("ok")
                except (psycopg.OperationalError, StoreUnavailableError):
                    await anyio.sleep(0.1)  # the failed batch; the next one reconnects
        assert tags(await store.read_stream("s")) == ["before", "after"]
    assert verify_pg_chain(url) == 2


async def test_unreachable_database_fails_fast_with_the_reason() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    url = f"postgresql://runner:hunter2@127.0.0.1:{port}/runner"
    with anyio.fail_after(15), pytest.raises(StoreUnavailableError) as info:
        async with PostgresEventStore.open(url):
            pass
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "hunter2" not in text


async def test_wrong_database_names_the_problem(pg_server: str) -> None:
    url = pg_server.rsplit("/", 1)[0] + "/no_such_db"
    with anyio.fail_after(15), pytest.raises(StoreUnavailableError, match="no_such_db"):
        async with PostgresEventStore.open(url):
            pass


def test_old_servers_are_refused_by_version() -> None:
    with pytest.raises(StoreUnavailableError, match=r"version 12\.22.*PostgreSQL 13 or newer"):
        check_server(120022, "postgresql://x@db.example:5432/runner")
    check_server(150018, "postgresql://x@db.example:5432/runner")


async def test_keyed_chain_on_postgres_catches_a_rewrite(
    databases: Databases, tmp_path: Path
) -> None:
    """With the chain key, a rewritten payload is caught even if the plain hash is recomputed."""
    from runner.migrate import _verify_copy

    key = ChainKey(b"k" * 32)
    url = databases.create()
    async with PostgresEventStore.open(url, key=key) as store:
        for i in range(5):
            await store.append(f"s{i % 2}", [ev(f"e{i}")])
    with psycopg.connect(url, autocommit=True) as pg:
        assert pg.execute("SELECT count(*) FROM events WHERE mac IS NOT NULL").fetchone() == (5,)
        clean = _verify_copy(pg, key, tmp_path / "clean.db")
        assert clean.ok and clean.keyed == "ok"
        # An attacker with write access to the table rewrites a payload and its plain hash.
        row = pg.execute(
            "SELECT e.position, e.stream, e.version, e.type, e.meta, e.recorded_at, p.hash "
            "FROM events e JOIN events p ON p.position = e.position - 1 WHERE e.position = 3"
        ).fetchone()
        assert row is not None
        pos, stream, version, type_, meta, at, prev = row
        forged = b'{"type":"ServiceStopped","instance":"test","reason":"forged"}'
        digest = data_digest(forged)
        new_hash = hash_v2(prev, pos, stream, version, type_, digest, bytes(meta), at)
        pg.execute("UPDATE events SET data = %s WHERE position = 3", (forged,))
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            pg.execute("UPDATE events SET hash = %s WHERE position = 3", (new_hash,))
        broken = _verify_copy(pg, key, tmp_path / "broken.db")
    assert not broken.ok and broken.plain == "broken"
