"""Liveness leases: every service process holds one; any live process recovers the runs of a
process whose lease expired, so a dead peer's runs never hold slots or block their jobs.

Timing (documented in the README): a heartbeat every ``HEARTBEAT_SECONDS`` (5 s), a lease
lives ``TTL_SECONDS`` (20 s) past its last heartbeat, and every live process sweeps at each
heartbeat. A process killed on this host is known dead at once (its pid is gone, or now
belongs to a process that started later, or the boot id changed), so its runs are recovered at
the next sweep: within 5 s. A process on another host is dead when its lease has expired:
within TTL + one sweep, 25 s. A sweeper only trusts heartbeat age once its own heartbeats have
succeeded for a whole TTL, so after a storage outage (nobody could heartbeat) nobody is
declared dead by mistake. A process that finds its own lease expired (it was stalled longer
than the TTL, and another process recovered its runs) cancels what it still runs and takes a
new lease.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from actors.lease_table import Lease, LeaseTable, boot_id, hostname, proc_start
from actors.recovery import ConfirmGone, crash_run, is_alive, orphan_candidates
from actors.supervisor import Health
from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError, StorageUnavailable
from events.leases import LeaseAcquired, LeaseExpired, LeaseReleased
from events.storage_faults import classify

log = logging.getLogger("runner.leases")
T = TypeVar("T")
HEARTBEAT_SECONDS = 5.0
TTL_SECONDS = 20.0


def verdict(lease: Lease, now: float, *, host: str, boot: str) -> tuple[str | None, bool]:
    """(why ``lease``'s process is dead or None, whether that is certain rather than by age)."""
    if lease.host == host:
        if lease.boot_id and boot and lease.boot_id != boot:
            return "the machine restarted", True
        started = proc_start(lease.pid)
        if started is None:
            return f"process {lease.pid} is gone", True
        if lease.proc_start is not None and started != lease.proc_start:
            return f"process {lease.pid} is gone (its pid now belongs to another)", True
    age = now - lease.heartbeat
    if age > lease.ttl:
        return f"no heartbeat for {age:.0f} s (the lease lasts {lease.ttl:.0f} s)", False
    return None, False


class LeaseKeeper:
    """Holds this process's lease and recovers the runs of processes whose lease expired."""

    def __init__(
        self,
        store: Backend,
        instance: str,
        health: Health,
        *,
        on_lost: Callable[[str], Awaitable[None]] | None = None,
        confirm_gone: ConfirmGone | None = None,
        clock: Callable[[], float] = time.time,
        heartbeat: float = HEARTBEAT_SECONDS,
        ttl: float = TTL_SECONDS,
        node: str = "",
        labels: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.instance = instance
        self.health = health
        self.on_lost = on_lost
        self.confirm_gone = confirm_gone
        self.clock = clock
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.host = hostname()
        self.node = node or self.host
        self.labels = labels
        self.boot = boot_id()
        self.table = LeaseTable(store.side_connection)
        self.lease: Lease | None = None
        self.healthy_since: float | None = None
        self.recovered = 0
        self._limiter = anyio.CapacityLimiter(1)

    async def _db(self, fn: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(fn, limiter=self._limiter)
        except Exception as exc:
            fault = classify(exc)
            if fault is not None and fault is not exc:
                raise fault from exc
            raise

    async def start(self) -> list[str]:
        """Recover what earlier processes left (certain verdicts only), then take a lease."""
        await self._db(self.table.setup)
        crashed = await self.sweep(at_start=True)
        await self._acquire()
        return crashed

    async def _acquire(self) -> None:
        now = self.clock()
        pid = os.getpid()
        lease = Lease(instance=self.instance, host=self.host, boot_id=self.boot, pid=pid,
                      proc_start=proc_start(pid), started_at=now, heartbeat=now,
                      ttl=self.ttl)  # fmt: skip
        await self._db(lambda: self.table.put(lease))
        self.lease = lease
        self.healthy_since = now
        await self.store.append(
            lease.stream,
            [LeaseAcquired(instance=lease.instance, host=lease.host, boot_id=lease.boot_id,
                           pid=pid, started_at=now, ttl_seconds=self.ttl, node=self.node,
                           labels=self.labels)],
            expected="no_stream",
            meta=Meta(actor="leases"),
        )  # fmt: skip

    async def release(self) -> None:
        """At a clean stop: the lease ends without anyone having to wait for it to expire."""
        lease, self.lease = self.lease, None
        try:
            if lease is None:
                return
            await self._db(lambda: self.table.remove(lease))
            await self.store.append(
                lease.stream,
                [LeaseReleased(instance=lease.instance)],
                expected=0,
                meta=Meta(actor="leases"),
            )
        except (ConcurrencyError, StorageUnavailable) as exc:
            log.warning("could not record the lease's release: %s", exc)
        finally:
            await anyio.to_thread.run_sync(self.table.close, limiter=self._limiter)

    async def run(self) -> None:
        """Heartbeat and sweep until cancelled (under the supervisor)."""
        while True:
            await anyio.sleep(self.heartbeat)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat, then one sweep when storage has been healthy long enough."""
        lease = self.lease
        if lease is None:
            await self._acquire()
            return
        now = self.clock()
        try:
            kept = await self._db(lambda: self.table.renew(lease, now))
        except StorageUnavailable as exc:
            self.healthy_since = None
            self.health.storage_fault(str(exc))
            log.warning("cannot renew the lease: %s", exc)
            return
        self.health.storage_fault(None)
        if self.healthy_since is None:
            self.healthy_since = now
        if not kept:
            await self._lost(lease)
            return
        await self.sweep()

    async def _lost(self, lease: Lease) -> None:
        why = (
            f"this process lost its liveness lease (no heartbeat for over {self.ttl:.0f} s); "
            "another process recovered its runs"
        )
        log.error("%s; cancelling local runs and taking a new lease", why)
        self.lease = None
        if self.on_lost is not None:
            await self.on_lost(why)
        await self._acquire()

    async def sweep(self, *, at_start: bool = False) -> list[str]:
        """Expire dead leases and crash the runs their processes left behind."""
        now = self.clock()
        trust_age = (
            not at_start and self.healthy_since is not None and now - self.healthy_since >= self.ttl
        )
        runs = await orphan_candidates(self.store)  # runs before leases: see the README
        leases = await self._db(self.table.all)
        dead: dict[str, str] = {}
        alive: set[str] = set()
        for lease in leases:
            if self.lease is not None and lease.instance == self.instance:
                alive.add(lease.instance)
                continue
            why, certain = verdict(lease, now, host=self.host, boot=self.boot)
            if lease.instance == self.instance and at_start:
                why, certain = why or "an earlier process of this name stopped", True
            if why is None or not (certain or trust_age):
                alive.add(lease.instance)
                continue
            await self._expire(lease, why)
            dead[lease.instance] = why
        crashed: list[str] = []
        for run in runs:
            claimer = run.claimer or ""
            if claimer in alive:
                continue
            if claimer in dead:
                why = f"the runner process {claimer} stopped ({dead[claimer]})"
            elif claimer == self.instance:
                if not at_start:
                    continue
                why = f"the runner process {claimer} stopped"
            elif claimer.rpartition(":")[0] == self.host:
                if is_alive(claimer):
                    continue
                why = f"the runner process {claimer} stopped"
            elif trust_age:
                why = f"the runner process {claimer or '?'} holds no lease"
            else:
                continue
            if await crash_run(self.store, run, why, confirm_gone=self.confirm_gone):
                crashed.append(run.run_id)
        self.recovered += len(crashed)
        if crashed:
            log.warning("recovered %d run(s) of stopped processes: %s", len(crashed),
                        ", ".join(crashed))  # fmt: skip
        return crashed

    async def _expire(self, lease: Lease, why: str) -> None:
        try:
            await self.store.append(
                lease.stream,
                [LeaseExpired(instance=lease.instance, by=self.instance, reason=why,
                              last_heartbeat=lease.heartbeat)],
                expected=0,
                meta=Meta(actor="leases"),
            )  # fmt: skip
            log.warning("lease of %s expired: %s", lease.instance, why)
        except ConcurrencyError:
            pass  # another process expired it first (or it predates lease events)
        await self._db(lambda: self.table.remove(lease))

    def snapshot(self) -> dict[str, object]:
        lease = self.lease
        return {
            "held": lease is not None,
            "node": self.node,
            "labels": list(self.labels),
            "heartbeat_seconds": self.heartbeat,
            "ttl_seconds": self.ttl,
            "recovered_runs": self.recovered,
        }
