"""The materializer: keeps ``<data_dir>/servers/<name>/server.py`` in step with the log and
discovers each server's tools after every change.

The files are a projection of ``ServerCreated``/``ServerUpdated``/``ServerDeleted``: at start the
whole tree is rebuilt from the servers view (``sync_servers``: no orphans, ``data/`` folders of
live servers kept), then every committed change is applied as it arrives (also changes made by
another process on the same database, which the store tails). After a server is created or
updated, or one of its credentials changes, its tools are discovered again through ``discover``
(which appends ``ServerToolsDiscovered`` or ``ServerStartFailed``); a server whose latest change
has no discovery yet (e.g. created by the CLI while no service ran) is discovered at start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from events.backend import Backend
from events.envelope import Recorded
from events.servers import (
    CredentialDeleted,
    CredentialSet,
    ServerCreated,
    ServerDeleted,
    ServerUpdated,
)
from events.storage_faults import classify
from projections.queries import servers as server_queries
from projections.read import select_rows
from projections.servers import SERVERS, ServerView

log = logging.getLogger(__name__)

__all__ = ["CHANGES", "DISCOVERIES", "Materializer", "ServerFiles"]

CHANGES = frozenset({"ServerCreated", "ServerUpdated", "CredentialSet", "CredentialDeleted"})
DISCOVERIES = frozenset({"ServerToolsDiscovered", "ServerStartFailed"})
Discover = Callable[[str], Awaitable[Any]]


@dataclass(frozen=True)
class ServerFiles:
    """The file operations of the projection (given by the runner: actors do not import it).

    ``sync(name -> code)`` makes the tree hold exactly those servers; ``write(name, code)``
    writes one server's code unless it is already there; ``remove(name)`` deletes its folder.
    """

    sync: Callable[[Mapping[str, str]], None]
    write: Callable[[str, str], None]
    remove: Callable[[str], Any]


class Materializer:
    """Server files as a projection of the log, plus tool discovery after each change."""

    def __init__(
        self,
        store: Backend,
        files: ServerFiles,
        discover: Discover,
        *,
        concurrency: int = 2,
        on_ready: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.discover = discover
        self.on_ready = on_ready
        self._limit = anyio.CapacityLimiter(concurrency)
        self._dirty: dict[str, None] = {}
        self._busy: set[str] = set()
        self._wake = anyio.Event()
        self.discoveries = 0
        """How many discoveries this actor ran (for tests and health)."""

    async def run(self) -> None:
        head = await self.store.head()
        servers: list[ServerView] = await select_rows(self.store, SERVERS, server_queries.ALL_ROWS)
        await anyio.to_thread.run_sync(
            self.files.sync,
            {s.name: s.code for s in servers if s.kind == "dynamic" and s.code is not None},
        )
        for srv in servers:
            if await self._pending(srv.name):
                self._mark(srv.name)
        if self.on_ready is not None:
            self.on_ready(True)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._work, tg)
                async with self.store.subscribe(from_position=head) as sub:
                    async for rec in sub:
                        await self.apply(rec)
                tg.cancel_scope.cancel()
        finally:
            if self.on_ready is not None:
                self.on_ready(False)

    async def apply(self, rec: Recorded) -> None:
        """Apply one committed event to the files and the discovery queue."""
        ev = rec.event
        if isinstance(ev, ServerCreated | ServerUpdated):
            if ev.code is not None:
                try:
                    await anyio.to_thread.run_sync(self.files.write, ev.name, ev.code)
                except OSError:
                    log.exception("could not write the code of server %s", ev.name)
            self._mark(ev.name)
        elif isinstance(ev, ServerDeleted):
            self._dirty.pop(ev.name, None)
            await anyio.to_thread.run_sync(self.files.remove, ev.name)
        elif isinstance(ev, CredentialSet | CredentialDeleted):
            self._mark(ev.server)

    async def _pending(self, name: str) -> bool:
        last_change = last_discovery = -1
        for rec in await self.store.read_stream(f"server-{name}"):
            if rec.type in CHANGES:
                last_change = rec.version
            elif rec.type in DISCOVERIES:
                last_discovery = rec.version
        return last_change > last_discovery

    def _mark(self, name: str) -> None:
        self._dirty[name] = None
        self._wake.set()

    async def _work(self, tg: Any) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            for name in list(self._dirty):
                if name in self._busy:
                    continue  # picked up again when the running discovery ends
                self._dirty.pop(name, None)
                self._busy.add(name)
                tg.start_soon(self._discover, name)

    async def _discover(self, name: str) -> None:
        try:
            async with self._limit:
                self.discoveries += 1
                await self.discover(name)
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                log.exception("discovery of server %s failed", name)
            else:
                # Storage is down, not the server: try again once it may be back.
                log.warning("discovery of server %s waits for storage: %s", name, fault)
                await anyio.sleep(fault.retry_after)
                self._dirty[name] = None
        finally:
            self._busy.discard(name)
            if name in self._dirty:
                self._wake.set()
