"""The application object: the store with every projection, commands and queries, wired once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from events.sqlite_store import SQLiteEventStore
from projections import make_projector
from runner.commands.jobs import JobCommands
from runner.commands.runs import RunCommands
from runner.commands.settings import SettingsCommands
from runner.config import Config
from runner.queries import Queries


class Runner:
    """What every interface (web, MCP, CLI, actors) talks to."""

    def __init__(self, config: Config, store: SQLiteEventStore) -> None:
        self.config = config
        self.store = store
        self.queries = Queries(store)
        self.jobs = JobCommands(store, self.queries)
        self.runs = RunCommands(store, self.queries)
        self.settings = SettingsCommands(store, self.queries)

    @classmethod
    @asynccontextmanager
    async def open(cls, config: Config) -> AsyncIterator[Runner]:
        """Open the log under ``config.data_dir`` (created if needed) with every projection."""
        config.data_dir.mkdir(parents=True, exist_ok=True)
        async with SQLiteEventStore.open(config.db_path, projector=make_projector()) as store:
            yield cls(config, store)
