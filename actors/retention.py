"""The retention actor: erases run output and webhook bodies older than the retention setting.

Each pass finds finished runs whose output is older than ``output_retention_days`` and erases
them one run at a time (``ContentErased`` with ``policy`` set, by ``retention``), so a large
backlog is worked off in bounded steps without holding the write lock for long.
"""

from __future__ import annotations

import logging
import time

import anyio

from events.backend import Backend
from events.errors import NotOnThisBackend, StoreError
from projections.queries import runs as run_queries
from projections.read import get_row
from projections.runs import TERMINAL_STATES
from projections.settings import SETTINGS, SettingsView, effective

log = logging.getLogger("actors.retention")

PASS_INTERVAL = 600.0
RUNS_PER_PASS = 200
TERMINAL = tuple(sorted(TERMINAL_STATES))


async def expired_runs(store: Backend, days: float, limit: int) -> list[str]:
    """Finished runs older than ``days`` that still hold erasable content."""
    cutoff_us = int((time.time() - days * 86_400) * 1_000_000)
    rows = await store.fetch(*run_queries.erasable(cutoff_us, TERMINAL, limit))
    return [str(r[0]) for r in rows]


async def retention_pass(store: Backend) -> int:
    """One pass: erase what the setting says has expired. Returns how many runs."""
    row: SettingsView | None = await get_row(store, SETTINGS, "settings")
    days = effective(row.values if row else {}).output_retention_days
    if days is None:
        return 0
    erased = 0
    for run_id in await expired_runs(store, days, RUNS_PER_PASS):
        try:
            await store.erase_run(
                run_id,
                by="retention",
                reason=f"output older than {days:g} days",
                policy=f"output_retention_days={days:g}",
            )
            erased += 1
        except NotOnThisBackend as exc:
            log.warning("retention is off: %s", exc)
            return erased
        except StoreError as exc:
            log.warning("retention could not erase run %s: %s", run_id, exc)
    return erased


class Retention:
    """Runs ``retention_pass`` every ``interval`` seconds."""

    def __init__(self, store: Backend, interval: float = PASS_INTERVAL) -> None:
        self.store = store
        self.interval = interval

    async def run(self) -> None:
        while True:
            n = await retention_pass(self.store)
            if n:
                log.info("retention erased the output of %d run(s)", n)
            await anyio.sleep(self.interval if n < RUNS_PER_PASS else 1.0)
