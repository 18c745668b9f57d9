"""Live budgets: the run's own, the job's per UTC day and the service's per UTC day.

Spend per day comes from ``ModelCallMetered`` events (``charged_usd``): the ones this relay
writes are counted at once, the ones other processes write arrive on the bus. Before a call the
relay asks ``check``: refuse when any limit is already reached, else the largest ``max_tokens``
whose output still fits the tightest remaining budget (so a call overshoots by at most its input).
A call in flight holds (reserves) its most expensive output until it is charged, so calls running
at the same time cannot together buy more output than is left: a call that finds everything
held waits for one of them to settle.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import anyio
import msgspec

from actors.relay.grants import Grant
from actors.relay.prices import output_usd_per_token
from events.relay import RefusalReason


def utc_day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date().isoformat()


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    refuse: RefusalReason | None = None
    detail: str = ""
    max_tokens: int | None = None
    """Forward this instead of the request's ``max_tokens`` (``None``: leave it)."""
    wait: bool = False
    """What is left is held by calls in flight: check again when one settles."""


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    usd: float


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    job_daily_usd: float | None = None
    daily_usd: float | None = None


class Ledger:
    """Spend per UTC day and per (day, job), and the service's limits."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.limits = Limits()
        self.day: dict[str, float] = {}
        self.job_day: dict[tuple[str, str], float] = {}
        self.reserved_day: dict[str, float] = {}
        self.reserved_job: dict[tuple[str, str], float] = {}
        self._mine: set[str] = set()
        self._released = anyio.Event()

    def seed(self, day: str, total: float, per_job: dict[str, float]) -> None:
        self.day[day] = total
        for job_id, usd in per_job.items():
            self.job_day[(day, job_id)] = usd

    def add(self, day: str, job_id: str | None, usd: float, call_id: str, *, mine: bool) -> None:
        """Count a call once: this relay's own (``mine``) now, then skip its echo on the bus."""
        if not mine and call_id in self._mine:
            self._mine.discard(call_id)
            return
        if mine:
            self._mine.add(call_id)
            if len(self._mine) > 100_000:
                self._mine.clear()
        self.day[day] = self.day.get(day, 0.0) + usd
        if job_id is not None:
            key = (day, job_id)
            self.job_day[key] = self.job_day.get(key, 0.0) + usd

    def check(self, grant: Grant, model: str, max_tokens: int | None) -> Decision:
        """Refuse, wait (only calls in flight hold what is left), or go, perhaps capped."""
        today = utc_day(self.clock())
        left: list[tuple[float, float, RefusalReason, str]] = []  # (free, reserved, ...)
        if grant.budget_usd is not None:
            left.append(
                (
                    grant.budget_usd - grant.spent_usd,
                    grant.reserved_usd,
                    "budget_run",
                    f"Run budget exhausted: spent ${grant.spent_usd:.6f} of "
                    f"${grant.budget_usd:.6f}",
                )
            )
        lim = self.limits
        if lim.job_daily_usd is not None and grant.job_id is not None:
            key = (today, grant.job_id)
            spent = self.job_day.get(key, 0.0)
            left.append(
                (
                    lim.job_daily_usd - spent,
                    self.reserved_job.get(key, 0.0),
                    "budget_job_day",
                    f"Job daily budget exhausted: spent ${spent:.6f} of "
                    f"${lim.job_daily_usd:.6f} today (UTC)",
                )
            )
        if lim.daily_usd is not None:
            spent = self.day.get(today, 0.0)
            left.append(
                (
                    lim.daily_usd - spent,
                    self.reserved_day.get(today, 0.0),
                    "budget_day",
                    f"Daily budget exhausted: spent ${spent:.6f} of ${lim.daily_usd:.6f} "
                    "today (UTC)",
                )
            )
        if not left:
            return Decision()
        per_token = output_usd_per_token(model)
        free, _, reason, detail = min(left, key=lambda t: t[0])
        if free < per_token:  # spent: this limit is reached
            note = "" if free <= 0 else " (not enough left for one token)"
            return Decision(refuse=reason, detail=detail + note)
        free, held, reason, detail = min(left, key=lambda t: t[0] - t[1])
        cap = math.floor((free - held) / per_token)
        if cap < 1:  # what is left is held by calls in flight: wait for them to settle
            return Decision(wait=True, detail=detail)
        if max_tokens is not None and max_tokens <= cap:
            return Decision()
        return Decision(max_tokens=cap)

    def reserve(self, grant: Grant, usd: float) -> Reservation:
        """Hold ``usd`` (the call's most expensive output) until the call is charged."""
        day = utc_day(self.clock())
        grant.reserved_usd += usd
        self.reserved_day[day] = self.reserved_day.get(day, 0.0) + usd
        if grant.job_id is not None:
            key = (day, grant.job_id)
            self.reserved_job[key] = self.reserved_job.get(key, 0.0) + usd
        return Reservation(day=day, usd=usd)

    def release(self, grant: Grant, held: Reservation) -> None:
        grant.reserved_usd = max(0.0, grant.reserved_usd - held.usd)
        self.reserved_day[held.day] = max(0.0, self.reserved_day.get(held.day, 0.0) - held.usd)
        if grant.job_id is not None:
            key = (held.day, grant.job_id)
            self.reserved_job[key] = max(0.0, self.reserved_job.get(key, 0.0) - held.usd)
        self._released.set()
        self._released = anyio.Event()

    async def settled(self) -> None:
        """Returns when some call's reservation was released."""
        await self._released.wait()
