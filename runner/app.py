"""The application object: the store with every projection, commands and queries, wired once."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from events.backend import Backend
from events.chain import KEY_FILE
from events.factory import open_store
from projections import make_projector
from runner.commands.approvals import ApprovalCommands
from runner.commands.assistant import AssistantCommands
from runner.commands.bulk_cancel import BulkCancel
from runner.commands.credentials import CredentialCommands
from runner.commands.erasure import ErasureCommands
from runner.commands.jobs import JobCommands
from runner.commands.runs import RunCommands
from runner.commands.servers import ServerCommands
from runner.commands.settings import SettingsCommands
from runner.config import Config
from runner.queries import Queries
from runner.secrets import KEY_ENV, SecretBox, load_keyring


class Runner:
    """What every interface (web, MCP, CLI, actors) talks to."""

    def __init__(self, config: Config, store: Backend) -> None:
        self.config = config
        self.store = store
        self.queries = Queries(store)
        self.jobs = JobCommands(store, self.queries)
        self.runs = RunCommands(store, self.queries)
        self.bulk_cancel = BulkCancel(store, self.queries)
        self.settings = SettingsCommands(store, self.queries)
        self.credentials = CredentialCommands(
            store, self.queries, self.secret_box(), reload_box=self.secret_box
        )
        self.servers = ServerCommands(store, self.queries, config.data_dir, self.credentials)
        self.erasure = ErasureCommands(store, self.queries)
        self.approvals = ApprovalCommands(store)
        self.assistant = AssistantCommands(store, self.queries)

    def database_status(self) -> dict[str, object]:
        """Where the log lives and, for the SQLite file, its size with the WAL."""
        out: dict[str, object] = {"path": self.store.location, "backend": self.store.dialect}
        if self.config.on_sqlite:
            db = self.config.db_path
            out["bytes"] = sum(
                p.stat().st_size for p in db.parent.glob(db.name + "*") if p.exists()
            )
        return out

    def secret_box(self) -> SecretBox:
        """A box over the current keyring (``RUNNER_SECRET_KEY`` or ``<data_dir>/secret.key``)."""
        env = dict(os.environ)
        if self.config.secret_key:
            env[KEY_ENV] = self.config.secret_key
        return SecretBox(load_keyring(self.config.data_dir, env))

    @classmethod
    @asynccontextmanager
    async def open(cls, config: Config) -> AsyncIterator[Runner]:
        """Open the log under ``config.data_dir`` (created if needed) with every projection."""
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path = config.data_dir / KEY_FILE
        async with open_store(
            config.database, projector=make_projector(), key_path=key_path
        ) as store:
            yield cls(config, store)
