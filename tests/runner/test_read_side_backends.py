"""The read side is one contract over both backends: every named query answers the same on
SQLite and on PostgreSQL (a Runner opened on each, the same commands, the same reads)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from actors.lease_table import Lease, LeaseTable
from actors.retention import expired_runs
from events import Backend
from events.postgres_store import PostgresEventStore
from events.sqlite_store import SQLiteEventStore
from projections.queries import access as access_queries
from projections.queries import runs as run_queries
from runner.access import Access
from runner.app import Runner
from runner.commands.bulk_cancel import CancelFilter
from runner.queries import RunFilter
from runner.queries_web import WebQueries
from tests.helpers import make_config
from tests.postgres_cluster import databases, pg_bindir, pg_server

__all__ = ["databases", "pg_server"]  # fixtures

pytestmark = pytest.mark.anyio

OpenRunner = Callable[[], contextlib.AbstractAsyncContextManager[Runner]]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_runner(request: pytest.FixtureRequest, tmp_path: Path) -> OpenRunner:
    url: str | None = None
    if request.param == "postgresql":
        if pg_bindir() is None:
            pytest.skip("PostgreSQL is not installed (make test installs it)")
        url = request.getfixturevalue("databases").create()

    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[Runner]:
        async with Runner.open(make_config(tmp_path / "data", database_url=url)) as runner:
            yield runner

    return factory


async def seeded(runner: Runner) -> list[str]:
    """Three jobs with mixed-case names and one run of each; returns the run ids."""
    runs = []
    for name in ("alpha job", "Beta_job", "gamma"):
        job, _ = await runner.jobs.create({"name": name, "prompt": "p", "cron": "0 * * * *"})
        runs.append((await runner.runs.request_job(job.job_id)).run_id)
    return runs


async def test_named_queries_answer_the_same_on_both_backends(open_runner: OpenRunner) -> None:
    async with open_runner() as runner:
        run_ids = await seeded(runner)
        q, web = runner.queries, WebQueries(runner.store)
        assert (await q.job_by_name("gamma")) is not None
        page = await q.jobs(limit=2)
        assert page.total == 3 and len(page.items) == 2
        assert [j.spec.name for j in await q.all_jobs()] == ["alpha job", "Beta_job", "gamma"]
        found, count = await web.jobs_page(search="JOB")
        assert count == 2 and [j.spec.name for j in found] == ["alpha job", "Beta_job"]
        # LIKE wildcards in the search are literal.
        assert (await web.jobs_page(search="_"))[1] == 1
        assert [n for _, n in await web.job_suggestions("a")] == ["alpha job", "Beta_job", "gamma"]
        assert len(await web.job_names()) == 3
        job_id = found[0].job_id
        assert await web.job_name(job_id) == "alpha job"

        runs = await q.runs()
        assert runs.total == 3 and {r.run_id for r in runs.items} == set(run_ids)
        assert (await q.runs(RunFilter(job_id=job_id))).total == 1
        assert len(await q.active_runs()) == 3
        assert (await q.run(run_ids[0])).outputs == 0
        assert await q.output(run_ids[0]) == []
        first, cursor = await web.runs_before(RunFilter(), before=None, limit=2)
        rest, end = await web.runs_before(RunFilter(), before=cursor, limit=2)
        assert len(first) == 2 and len(rest) == 1 and end is None
        assert {r.run_id for r in first + rest} == set(run_ids)
        assert await web.failures_since(0) == ([], 0)
        assert (await web.db_stats())["runs"] == 3

        today = dt.datetime.now(dt.UTC).date()
        assert await q.costs(start=today, end=today) == []
        assert (await q.totals())["runs"] == 0
        assert (await q.totals(since_day=today.isoformat()))["cost_usd"] == 0
        assert (await q.spend_today())["metered_cost_usd"] == 0
        assert await web.cost_series(days=3, by="job") == (
            [(today - dt.timedelta(days=i)).isoformat() for i in (2, 1, 0)],
            {},
        )
        assert (await web.cost_by_source(days=2))[1] == {}
        assert await q.webhooks() == []
        assert await q.servers() == [] and await q.known_servers() == {}

        newest = await web.log_newest(stream="run-", limit=10)
        assert {r.stream for r in newest} == {f"run-{r}" for r in run_ids}
        assert all(r.stream.startswith("run-") for r in newest)

        cancelled = await runner.bulk_cancel.cancel(CancelFilter(job_id=job_id), reason="t")
        assert cancelled.cancelled == 1
        assert (await q.run(run_ids[0])).state == "cancelled"
        assert await expired_runs(runner.store, 0, 10) == []
        states = await runner.store.fetch(*run_queries.states_of(run_ids))
        assert {str(k): str(v) for k, v in states}[run_ids[0]] == "cancelled"


async def test_access_reads_on_both_backends(open_runner: OpenRunner) -> None:
    async with open_runner() as runner:
        access = Access(runner.store)
        password = await access.ensure_admin(None)
        assert password and await access.check_login("admin", password)
        sid = await access.start_session("admin", 60)
        assert await access.session_user(sid) == "admin"
        assert await access.end_all_sessions() == 1
        assert await access.session_user(sid) is None
        token = await access.create_token("ci")
        assert (await access.token_user(token.token)) is not None
        assert [t.name for t in await access.tokens()] == ["ci"]
        assert await runner.store.fetch(access_queries.CLIENTS_WITHOUT_TOKENS, (10,)) == []


async def test_the_lease_table_lives_beside_the_log(open_runner: OpenRunner) -> None:
    async with open_runner() as runner:
        table = LeaseTable(runner.store.side_connection)
        try:
            table.setup()
            table.setup()  # idempotent
            now = time.time()
            lease = Lease(instance="h:1", host="h", boot_id="b", pid=1, proc_start=None,
                          started_at=now, heartbeat=now, ttl=20.0)  # fmt: skip
            table.put(lease)
            table.put(lease)  # replaces
            assert table.renew(lease, now + 1.5)
            (back,) = table.all()
            assert back.heartbeat == pytest.approx(now + 1.5, abs=1e-6)  # full precision
            table.remove(lease)
            assert not table.renew(lease, now + 2) and table.all() == []
        finally:
            table.close()


def test_the_backend_follows_the_setting(tmp_path: Path) -> None:
    """``RUNNER_DATABASE_URL`` unset: SQLite under the data directory; set: PostgreSQL."""
    assert make_config(tmp_path).database == tmp_path / "runner.db"
    url = "postgresql://u@127.0.0.1:5/x"
    assert make_config(tmp_path, database_url=url).database == url
    assert issubclass(SQLiteEventStore, Backend) and issubclass(PostgresEventStore, Backend)


async def test_conversations_on_both_backends(open_runner: OpenRunner) -> None:
    # The view's owner column is not named ``user``: that is a reserved word on PostgreSQL.
    async with open_runner() as runner:
        conv, run = await runner.assistant.start("list my jobs", user="admin")
        await runner.assistant.start("another", user="someone else")
        mine = await runner.assistant.of_user("admin")
        assert [c.conversation_id for c in mine] == [conv.conversation_id]
        assert (await runner.assistant.get(conv.conversation_id)).active_run == run.run_id
