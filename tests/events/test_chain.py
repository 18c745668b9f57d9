"""The keyed chain: tampering caught without the key, a broken chain refuses appends until an
operator accepts it, old (unkeyed) logs keep verifying, and starts verify from a checkpoint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from events import SQLiteEventStore
from events.chain import GENESIS, KEY_FILE, data_digest, hash_v2, info, load_key, walk
from events.errors import ChainBrokenError
from events.integrity import ChainBreakAccepted
from events.jobs import JobPaused, JobResumed
from projections import ALL_PROJECTIONS, audit, make_projector
from tests.events.sqlite_helpers import verify_chain

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures"


async def _fill(db: Path, n: int) -> None:
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        for i in range(n):
            await store.append(f"job-j{i % 3}", [JobPaused(job_id=f"j{i % 3}")])


def _db_bytes(data: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data.glob("runner.db*"))


def _forge(db: Path, position: int) -> None:
    """An attacker with write access but no key: change a row, recompute every plain hash."""
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE events SET data = ? WHERE position = ?",
        (b'{"type":"JobResumed","job_id":"x"}', position),
    )
    conn.execute("UPDATE events SET type = 'JobResumed' WHERE position = ?", (position,))
    rows = conn.execute(
        "SELECT position, stream, version, type, data, meta, recorded_at FROM events ORDER BY position"
    ).fetchall()
    prev = GENESIS
    for pos, stream, version, type_, data, meta, at in rows:
        prev = hash_v2(prev, pos, stream, version, type_, data_digest(data), meta, at)
        conn.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, pos))
    conn.commit()
    conn.close()


async def test_forged_plain_chain_is_caught_by_the_key_and_appends_are_refused(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runner.db"
    await _fill(db, 20)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    _forge(db, 7)
    conn = sqlite3.connect(db)
    assert walk(conn, None).breaks == []  # the plain chain alone is fooled
    keyed = walk(conn, load_key(tmp_path / KEY_FILE, create=False))
    conn.close()
    assert keyed.breaks and keyed.breaks[0].chain == "keyed" and keyed.breaks[0].position == 7
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert not store.chain.ok and store.chain.position == 7
        assert "position 7" in store.chain.detail and "chain-accept" in store.chain.detail
        with pytest.raises(ChainBrokenError, match="position 7"):
            await store.append("job-j1", [JobResumed(job_id="j1")])
        (rec,) = await store.accept_chain_break("operator:alice", "restored from paper records")
        assert isinstance(rec.event, ChainBreakAccepted)
        assert rec.event.first == 7 and rec.event.last == 20 and rec.meta.actor == "operator:alice"
        await store.append("job-j1", [JobResumed(job_id="j1")])
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok and store.chain.checked == 1  # only the row after the accept
    report = audit(
        db, ALL_PROJECTIONS, tmp_path / "scratch.db", load_key(tmp_path / KEY_FILE, create=False)
    )
    assert report.accepted and report.accepted[0].position == 7
    assert not [i for i in report.issues if i.kind in ("hash", "mac")]


async def test_serve_style_open_refuses_a_log_changed_after_the_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    await _fill(db, 5)
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok
        await store.append("job-j0", [JobResumed(job_id="j0")])
    conn = sqlite3.connect(db)
    conn.execute('UPDATE events SET meta = \'{"actor":"mallory"}\' WHERE position = 6')
    conn.commit()
    conn.close()
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert not store.chain.ok and store.chain.position == 6
        with pytest.raises(ChainBrokenError):
            await store.append("job-j0", [JobPaused(job_id="j0")])


async def test_a_missing_key_opens_read_only_and_is_never_silently_replaced(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    await _fill(db, 3)
    (tmp_path / KEY_FILE).unlink()
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert not store.chain.ok and "missing" in store.chain.detail
        with pytest.raises(ChainBrokenError):
            await store.append("job-j0", [JobPaused(job_id="j0")])
    assert not (tmp_path / KEY_FILE).exists()


async def test_an_old_unkeyed_log_upgrades_and_is_keyed_from_the_next_position(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runner.db"
    conn = sqlite3.connect(db)
    conn.executescript((FIXTURES / "store_v1_job_created.sql").read_text())
    conn.close()
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok and store.chain.keyed_from == 3
        await store.append("job-j1", [JobPaused(job_id="j1")])
    assert verify_chain(db) == 3
    conn = sqlite3.connect(db)
    assert info(conn, "v2_from") == "3" and info(conn, "schema_version") == "2"
    macs = [m for (m,) in conn.execute("SELECT mac FROM events ORDER BY position")]
    conn.close()
    assert macs[0] is None and macs[1] is None and macs[2]
    key = load_key(tmp_path / KEY_FILE, create=False)
    report = audit(db, ALL_PROJECTIONS, tmp_path / "scratch.db", key)
    # (the fixture's raw rows never had views: only the chains are the point here)
    assert not [i for i in report.issues if i.kind in ("hash", "mac", "gap", "key")]
    assert report.keyed == "ok" and report.plain == "ok" and report.keyed_from == 3


async def test_start_verifies_only_since_the_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    await _fill(db, 50)
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.checked == 50  # first open of these rows
        await store.append("job-j0", [JobPaused(job_id="j0")])
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok and store.chain.checked == 1


async def test_cutting_the_tail_or_appending_without_the_key_is_caught(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    await _fill(db, 10)
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok  # checkpoint at position 10
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM events WHERE position >= 9")  # hide the newest events
    conn.commit()
    conn.close()
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert not store.chain.ok and store.chain.position == 10
        assert "removed or changed" in store.chain.detail
    db2 = tmp_path / "other" / "runner.db"
    await _fill(db2, 3)
    conn = sqlite3.connect(db2)
    (prev,) = conn.execute("SELECT hash FROM events WHERE position = 3").fetchone()
    data, meta = b'{"type":"JobPaused","job_id":"j9"}', b"{}"
    forged = hash_v2(prev, 4, "job-j9", 0, "JobPaused", data_digest(data), meta, 1)
    conn.execute(
        "INSERT INTO events VALUES (4, 'job-j9', 0, 'JobPaused', ?, ?, 1, ?, NULL)",
        (data, meta, forged),
    )
    conn.commit()
    conn.close()
    async with SQLiteEventStore.open(db2, projector=make_projector()) as store:
        assert not store.chain.ok and store.chain.position == 4
        assert "no MAC" in store.chain.detail


async def test_a_break_behind_a_running_store_turns_it_read_only(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        for _ in range(5):
            await store.append("job-j0", [JobPaused(job_id="j0")])
        assert (await store.verify_chain()).ok  # moves the checkpoint to 5
        await store.append("job-j0", [JobPaused(job_id="j0")])
        conn = sqlite3.connect(db)
        conn.execute('UPDATE events SET meta = \'{"actor":"mallory"}\' WHERE position = 6')
        conn.commit()
        conn.close()
        state = await store.verify_chain()
        assert not state.ok and state.position == 6 and not store.chain.ok
        with pytest.raises(ChainBrokenError, match="position 6"):
            await store.append("job-j0", [JobPaused(job_id="j0")])


async def test_a_different_key_is_named_not_mistaken_for_tampering(tmp_path: Path) -> None:
    db = tmp_path / "runner.db"
    await _fill(db, 2)
    (tmp_path / KEY_FILE).write_text("11" * 32 + "\n")
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert not store.chain.ok and "not the key this log was written with" in store.chain.detail


async def test_erasing_a_row_written_before_the_upgrade_keeps_both_chains_clean(
    tmp_path: Path,
) -> None:
    """The upgrade path: v1 rows were chained over their raw bytes. Erasing one leaves its
    plain link uncheckable (reported as such), while the keyed chain still covers it."""
    from events.codec import chain_hash, encode_event
    from events.runs import RunOutput, RunRequested, RunSpec

    db = tmp_path / "runner.db"
    conn = sqlite3.connect(db)
    conn.executescript((FIXTURES / "store_v1_job_created.sql").read_text())
    (prev,) = conn.execute("SELECT hash FROM events WHERE position = 2").fetchone()
    secret = "v1-era-secret-8731"
    rows: list[tuple[str, int, RunRequested | RunOutput]] = [
        (
            "run-r1",
            0,
            RunRequested(run_id="r1", job_id=None, trigger="manual", spec=RunSpec(prompt="p")),
        ),
        ("run-r1", 1, RunOutput(run_id="r1", seq=0, kind="text", text=secret)),
    ]
    for pos, (stream, version, event) in enumerate(rows, start=3):
        data, meta = encode_event(event), b"{}"
        prev = chain_hash(prev, pos, stream, version, type(event).__name__, data, meta, 5)
        conn.execute(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
            (pos, stream, version, type(event).__name__, data, meta, 5, prev),
        )
    conn.commit()
    conn.close()
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok and store.chain.keyed_from == 5
        (rec,) = await store.erase_run("r1", by="operator:bob", reason="v1 leak")
        assert rec.position == 5 and rec.event.positions == (4,)  # type: ignore[union-attr]
    assert secret.encode() not in _db_bytes(tmp_path)
    key = load_key(tmp_path / KEY_FILE, create=False)
    conn = sqlite3.connect(db)
    res = walk(conn, key)
    conn.close()
    assert res.breaks == [] and res.unverifiable == [4]
    report = audit(db, ALL_PROJECTIONS, tmp_path / "scratch.db", key)
    assert not [i for i in report.issues if i.kind in ("hash", "mac", "gap", "erased", "decode")]
    assert report.erased == 1 and report.unverifiable == [4]
    async with SQLiteEventStore.open(db, projector=make_projector()) as store:
        assert store.chain.ok  # a start after the erasure is clean too
