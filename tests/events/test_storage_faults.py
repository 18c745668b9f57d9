"""Storage faults are typed and leave nothing half-written: a full disk (SQLite's page limit
stands in for it here; tests/e2e/test_chaos.py fills a real small file system), a held write
lock, a read-only database. After the fault clears, appends resume on the same store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from events.envelope import Meta
from events.errors import StorageUnavailable
from events.sqlite_store import SQLiteEventStore
from events.storage_faults import classify
from events.system import SettingsChanged
from projections.rebuild import verify_chain

pytestmark = pytest.mark.anyio


def hold_write_lock(db: Path) -> subprocess.Popen[str]:
    """Another process holding ``db``'s write lock (returns once it holds it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


BIG = {"blob": "x" * 20_000}


async def test_a_full_disk_is_a_typed_fault_and_appends_resume_after(tmp_path: Path) -> None:
    async with SQLiteEventStore.open(tmp_path / "runner.db") as store:
        await store.append("settings", [SettingsChanged(changes={"n": 0})], meta=Meta())
        pages = store._journal.conn.execute("PRAGMA page_count").fetchone()[0]
        store._journal.conn.execute(f"PRAGMA max_page_count = {pages + 8}")
        head_before_fault = 0
        with pytest.raises(StorageUnavailable) as full:
            for _ in range(100):
                head_before_fault = await store.head()
                await store.append("settings", [SettingsChanged(changes=BIG)], meta=Meta())
        assert full.value.cause == "disk_full" and full.value.retry_after > 0
        assert "full" in str(full.value)
        assert await store.head() == head_before_fault  # nothing half-written
        store._journal.conn.execute("PRAGMA max_page_count = 1073741823")
        await store.append("settings", [SettingsChanged(changes={"n": 1})], meta=Meta())
        assert await store.head() == head_before_fault + 1
    with sqlite3.connect(tmp_path / "runner.db") as conn:
        report = verify_chain(conn)
    assert report.ok and report.events == head_before_fault + 1, report.issues


async def test_a_held_write_lock_is_a_typed_fault_and_reads_still_work(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    async with SQLiteEventStore.open(db) as store:
        await store.append("settings", [SettingsChanged(changes={"n": 0})], meta=Meta())
        store._journal.conn.execute("PRAGMA busy_timeout = 200")
        holder = hold_write_lock(db)
        try:
            with pytest.raises(StorageUnavailable) as locked:
                await store.append("settings", [SettingsChanged(changes={"n": 1})], meta=Meta())
            assert locked.value.cause == "locked"
            assert await store.head() == 1  # reading never waits for the writer
            # Opening the store again (what a read-only CLI command does) does not wait either.
            async with SQLiteEventStore.open(db) as reader:
                assert await reader.head() == 1
        finally:
            holder.kill()
            holder.wait()
        await store.append("settings", [SettingsChanged(changes={"n": 2})], meta=Meta())
        assert await store.head() == 2


def test_classify_names_each_cause() -> None:
    cases = {
        "database or disk is full": "disk_full",
        "database is locked": "locked",
        "attempt to write a readonly database": "read_only",
        "disk I/O error": "io_error",
    }
    for message, cause in cases.items():
        fault = classify(sqlite3.OperationalError(message))
        assert fault is not None and fault.cause == cause
    assert classify(sqlite3.OperationalError("no such table: x")) is None
    assert classify(ValueError("database is locked")) is None
    assert classify(OSError(28, "No space left on device")).cause == "disk_full"  # type: ignore[union-attr]
