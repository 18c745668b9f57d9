"""Stored shapes: upcasting old events, refusing newer databases, typed errors for bad rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from events import (
    CorruptEventError,
    SchemaVersionError,
    SQLiteEventStore,
    UnknownEventTypeError,
)
from events.jobs import JobCreated, JobPaused
from tests.events.sqlite_helpers import insert_raw, verify_chain

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures"


def seed_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "store_v1_job_created.sql").read_text())
    conn.close()


async def test_v1_job_created_is_upcast_on_read(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    seed_v1(db)
    async with SQLiteEventStore.open(db) as store:
        (rec,) = await store.read_stream("job-j1")
        assert rec.meta.schema == 1 and rec.meta.actor == "seed"
        event = rec.event
        assert isinstance(event, JobCreated)
        assert event.job_id == "j1"
        assert event.spec.name == "news"
        assert event.spec.prompt == "Summarise AI news"
        assert event.spec.cron is None  # "manual" in v1
        assert event.spec.tools == ("Read",)  # a JSON string in v1
        assert event.spec.timeout_seconds == 30 * 60
        assert event.spec.timezone == "UTC" and event.spec.enabled
        (other,) = await store.read_stream("job-j2")
        assert isinstance(other.event, JobCreated)
        assert other.event.spec.cron == "0 7 * * 1-5"
        assert other.event.spec.tools == ()
        assert [r.position async for r in store.read_all()] == [1, 2]
        # The log goes on from the old rows: versions, positions and the hash chain continue.
        res = await store.append("job-j1", [JobPaused(job_id="j1")], expected=0)
        assert (res.first_version, res.first_position) == (1, 3)
        await store.append(
            "job-j3", [JobCreated(job_id="j3", spec=event.spec)], expected="no_stream"
        )
        (new,) = await store.read_stream("job-j3")
        assert new.meta.schema == 2 and new.event == JobCreated(job_id="j3", spec=event.spec)
    assert verify_chain(db) == 4
    # Rows are never rewritten in place.
    conn = sqlite3.connect(db)
    (data,) = conn.execute("SELECT data FROM events WHERE position = 1").fetchone()
    conn.close()
    assert b'"timeout_minutes":30' in data


async def test_newer_store_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    async with SQLiteEventStore.open(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute("UPDATE store_info SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"newer Claude Runner \(store schema 99"):
        async with SQLiteEventStore.open(db):
            pytest.fail("a newer database must not open")


async def test_newer_event_schema_is_a_typed_error(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    async with SQLiteEventStore.open(db) as store:
        insert_raw(
            db, [("job-x", 0, "JobPaused", b'{"type":"JobPaused","job_id":"x"}', b'{"schema":7}')]
        )
        with pytest.raises(SchemaVersionError, match="JobPaused was written with schema 7"):
            await store.read_stream("job-x")


@pytest.mark.parametrize(
    ("type_", "data", "error", "match"),
    [
        ("JobTeleported", b'{"type":"JobTeleported"}', UnknownEventTypeError, "JobTeleported"),
        ("JobPaused", b'{"type":"JobResumed","job_id":"x"}', CorruptEventError, "holds a"),
        ("JobPaused", b'{"type":"Nope","job_id":"x"}', CorruptEventError, "does not decode"),
        ("JobPaused", b"{not json", CorruptEventError, "does not decode"),
    ],
)
async def test_bad_rows_give_typed_errors(
    tmp_path: Path, type_: str, data: bytes, error: type[Exception], match: str
) -> None:
    db = tmp_path / "log.db"
    async with SQLiteEventStore.open(db) as store:
        await store.append("job-x", [JobPaused(job_id="x")])
        insert_raw(db, [("job-x", 1, type_, data, b"{}")])
        with pytest.raises(error, match=match) as info:
            await store.read_stream("job-x")
        assert "position 2" in str(info.value)
        with pytest.raises(error):
            [r async for r in store.read_all()]
        # The rows before the bad one still read.
        assert [r.position async for r in store.read_all(to_position=1)] == [1]


async def test_unreadable_row_from_another_writer_is_a_typed_error_not_a_crash(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    async with SQLiteEventStore.open(db, tail_interval=0.005) as store:
        await store.append("job-x", [JobPaused(job_id="x")])
        async with store.subscribe() as sub:
            assert (await sub.__anext__()).position == 1
            # "Another process" (a newer version, say) writes a type this code does not know.
            insert_raw(db, [("job-x", 1, "JobTeleported", b'{"type":"JobTeleported"}', b"{}")])
            with anyio.fail_after(10), pytest.raises(UnknownEventTypeError, match="position 2"):
                await sub.__anext__()
        # The store stays up; it refuses to write on top of a log it cannot read.
        assert await store.head() == 2
        with pytest.raises(UnknownEventTypeError):
            await store.append("job-y", [JobPaused(job_id="y")])
        assert await store.head() == 2
