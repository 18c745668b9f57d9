"""Shared test helpers: a Runner on a temporary data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from events.sqlite_store import SQLiteEventStore
from runner.app import Runner
from runner.config import Config


def make_config(data_dir: Path, **overrides: object) -> Config:
    return Config(data_dir=data_dir, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def open_runner(data_dir: Path, **overrides: object) -> AsyncIterator[Runner]:
    async with Runner.open(make_config(data_dir, **overrides)) as runner:
        yield runner


def sqlite_of(store: object) -> SQLiteEventStore:
    """``store`` as the SQLite store, for tests that reach into its file or journal."""
    assert isinstance(store, SQLiteEventStore), f"this test needs SQLite, not {type(store)}"
    return store
