"""The built-in memory server: values survive a restart of the server process."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.builtin_servers.memory import MemoryStore, MemoryStoreError
from runner.servers.invoke import invoke_tool
from runner.servers.launch import builtin_launch
from runner.servers.session import open_session


@pytest.mark.anyio
async def test_memory_persists_across_processes(tmp_path: Path) -> None:
    job_dir = tmp_path / "jobs" / "job-1" / "memory"
    launch = builtin_launch(tmp_path, "memory", {}, server_data=job_dir)
    async with open_session(launch) as client:
        for key, value in (("last_seen", "2026-11-21"), ("topic", "AI"), ("tmp", "x")):
            result = await client.call_tool("set", {"key": key, "value": value})
            assert not result.is_error
        deleted = await client.call_tool("delete", {"key": "tmp"})
        assert deleted.structured_content == {"key": "tmp", "deleted": True}
        listed = await client.call_tool("list_keys", {})
        assert listed.structured_content == {"keys": ["last_seen", "topic"]}
    assert (job_dir / "memory.sqlite3").exists()

    again = await invoke_tool(launch, "get", {"key": "last_seen"})  # a fresh process
    assert again.structured == {"key": "last_seen", "found": True, "value": "2026-11-21"}


def test_store_limits_and_isolation(tmp_path: Path) -> None:
    a = MemoryStore(tmp_path / "a", max_keys=2)
    b = MemoryStore(tmp_path / "b")
    a.set("k1", "v1")
    a.set("k1", "v1b")  # replacing does not count
    a.set("k_2", "v2")
    with pytest.raises(MemoryStoreError, match="full"):
        a.set("k3", "v3")
    assert a.get("k1") == "v1b" and b.get("k1") is None
    assert a.keys("k_") == ["k_2"]  # LIKE wildcards in the prefix are literal
    with pytest.raises(MemoryStoreError, match="key"):
        a.set("", "x")
    with pytest.raises(MemoryStoreError, match="value"):
        b.set("big", "x" * (256 * 1024 + 1))
    with pytest.raises(MemoryStoreError, match="DATA_DIR"):
        MemoryStore.from_env({})
