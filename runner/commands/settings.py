"""Settings commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.backend import Backend
from events.envelope import Meta
from events.system import SettingsChanged
from runner.queries import Queries
from runner.settings import Settings, validate_changes


class SettingsCommands:
    def __init__(self, store: Backend, queries: Queries) -> None:
        self.store = store
        self.q = queries

    async def change(self, changes: Mapping[str, Any], *, actor: str = "user") -> Settings:
        values = validate_changes(changes)
        await self.store.append(
            "settings", [SettingsChanged(changes=values)], meta=Meta(actor=actor)
        )
        return await self.q.settings()
