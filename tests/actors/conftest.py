"""Fixtures for actor tests: anyio on asyncio, the fake Anthropic API, a store, an executor."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors.executor import Executor, RunContext
from actors.executor_options import ExecutorSettings
from events import SQLiteEventStore
from events.runs import RunSpec
from tests.fakes.anthropic_api import FakeAnthropicAPI, fake_anthropic_api


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_api(fake_anthropic_api: FakeAnthropicAPI) -> FakeAnthropicAPI:
    return fake_anthropic_api


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    async with SQLiteEventStore.open(tmp_path / "events.db") as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, fake_api: FakeAnthropicAPI) -> ExecutorSettings:
    return ExecutorSettings(
        data_dir=tmp_path / "data",
        auth_env={"ANTHROPIC_API_KEY": "test-key-run", "ANTHROPIC_BASE_URL": fake_api.base_url},
        max_api_retries=1,
    )


def ctx(run_id: str, prompt: str, *, job_id: str | None = "job1", **spec: Any) -> RunContext:
    return RunContext(run_id=run_id, job_id=job_id, spec=RunSpec(prompt=prompt, **spec))


async def events_of(store: SQLiteEventStore, run_id: str) -> list[Any]:
    return [r.event for r in await store.read_stream(f"run-{run_id}")]


def children(pid: int | None = None) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid`` (default: this process)."""
    me = os.getpid() if pid is None else pid
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == me:
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


__all__ = ["Executor", "alive", "children", "ctx", "events_of", "fake_anthropic_api"]
