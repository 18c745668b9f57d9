"""Verifies the log's chains while the service runs, so a start has little left to check and a
break made behind the service's back turns it read-only within minutes, not at the next start."""

from __future__ import annotations

import logging

import anyio

from events.backend import Backend

log = logging.getLogger("actors.chain_watch")

INTERVAL = 300.0


class ChainWatch:
    def __init__(self, store: Backend, interval: float = INTERVAL) -> None:
        self.store = store
        self.interval = interval

    async def run(self) -> None:
        reported = False
        while True:
            await anyio.sleep(self.interval)
            state = await self.store.verify_chain()
            if not state.ok and not reported:
                log.error("READ-ONLY: %s", state.detail)
                reported = True
