"""The data directory is 0700 and the database, WAL and SHM 0600: created so, narrowed if not."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from events import file_modes
from events.envelope import Meta
from events.sqlite_store import SQLiteEventStore
from events.system import SettingsChanged

pytestmark = pytest.mark.anyio


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_created_owner_only_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        data = tmp_path / "data"
        async with SQLiteEventStore.open(data / "runner.db") as store:
            await store.append("settings", [SettingsChanged(changes={"a": 1})], meta=Meta())
            assert mode(data) == 0o700
            for suffix in ("", "-wal", "-shm"):
                assert mode(data / f"runner.db{suffix}") == 0o600, suffix
    finally:
        os.umask(old)


async def test_an_existing_world_readable_setup_is_narrowed_at_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with SQLiteEventStore.open(data / "runner.db") as store:
        await store.append("settings", [SettingsChanged(changes={"a": 1})], meta=Meta())
    os.chmod(data, 0o755)
    for p in data.iterdir():
        os.chmod(p, 0o644)
    assert file_modes.check(data / "runner.db")
    async with SQLiteEventStore.open(data / "runner.db"):
        assert file_modes.check(data / "runner.db") == []
        assert mode(data) == 0o700 and mode(data / "runner.db") == 0o600
