"""The ``leases`` table beside the log: one row per live service process, its heartbeat.

A heartbeat is operational state, not history, so it is an UPDATE of one row rather than an
event (the lease's start and end are events: ``events/leases.py``). The table has its own
connection (from the store, beside the log), used from a worker thread.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from events.backend import SideConnection
from events.views import Query

COLUMNS = "instance, host, boot_id, pid, proc_start, started_at, heartbeat, ttl"
# Portable SQL (SQLite and PostgreSQL): DOUBLE PRECISION, because epoch seconds need more
# than PostgreSQL's 4-byte REAL.
CREATE = Query(
    "leases.create",
    """CREATE TABLE IF NOT EXISTS leases (
        instance   TEXT PRIMARY KEY,
        host       TEXT NOT NULL,
        boot_id    TEXT NOT NULL,
        pid        BIGINT NOT NULL,
        proc_start BIGINT,
        started_at DOUBLE PRECISION NOT NULL,
        heartbeat  DOUBLE PRECISION NOT NULL,
        ttl        DOUBLE PRECISION NOT NULL
    )""",
)
PUT = Query(
    "leases.put",
    f"INSERT INTO leases ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (instance) "
    "DO UPDATE SET host = excluded.host, boot_id = excluded.boot_id, pid = excluded.pid, "
    "proc_start = excluded.proc_start, started_at = excluded.started_at, "
    "heartbeat = excluded.heartbeat, ttl = excluded.ttl",
)
RENEW = Query(
    "leases.renew", "UPDATE leases SET heartbeat = ? WHERE instance = ? AND started_at = ?"
)
REMOVE = Query("leases.remove", "DELETE FROM leases WHERE instance = ? AND started_at = ?")
ALL = Query("leases.all", f"SELECT {COLUMNS} FROM leases")


@dataclass(frozen=True)
class Lease:
    """One process's claim to be alive until ``heartbeat + ttl``."""

    instance: str
    host: str
    boot_id: str
    pid: int
    proc_start: int | None
    started_at: float
    heartbeat: float
    ttl: float

    @property
    def stream(self) -> str:
        """The event stream of this lease generation."""
        return f"lease-{self.instance}:{int(self.started_at * 1_000_000)}"


def boot_id() -> str:
    """This machine's boot id (changes at every boot), or '' where the kernel has none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def proc_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None when it does not exist.

    With the boot id this tells a live process from a later one that reused its pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rpartition(")")[2].split()[19])
    except (IndexError, ValueError):
        return None


def hostname() -> str:
    return socket.gethostname()


class LeaseTable:
    """Synchronous access to ``leases``; call from one worker thread at a time.

    The connection comes from the store (``Backend.side_connection``), so the table lives
    beside the log whatever the backend: every node on one PostgreSQL sees every lease.
    """

    def __init__(self, connect: Callable[[], SideConnection]) -> None:
        self._connect = connect
        self._conn: SideConnection | None = None

    @property
    def conn(self) -> SideConnection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def setup(self) -> None:
        if not self.conn.has_table("leases"):
            self.conn.execute(CREATE)

    def put(self, lease: Lease) -> None:
        self.conn.execute(
            PUT,
            (lease.instance, lease.host, lease.boot_id, lease.pid, lease.proc_start,
             lease.started_at, lease.heartbeat, lease.ttl),
        )  # fmt: skip

    def renew(self, lease: Lease, now: float) -> bool:
        """Move the heartbeat on; False when the row is gone (another process expired it)."""
        _, changed = self.conn.execute(RENEW, (now, lease.instance, lease.started_at))
        return changed == 1

    def remove(self, lease: Lease) -> None:
        self.conn.execute(REMOVE, (lease.instance, lease.started_at))

    def all(self) -> list[Lease]:
        rows, _ = self.conn.execute(ALL)
        return [Lease(*row) for row in rows]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
