"""The ``leases`` table beside the log: one row per live service process, its heartbeat.

A heartbeat is operational state, not history, so it is an UPDATE of one row rather than an
event (the lease's start and end are events: ``events/leases.py``). The table has its own
connection with a short busy timeout, used from a worker thread.
"""

from __future__ import annotations

import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

DDL = """
CREATE TABLE IF NOT EXISTS leases (
    instance   TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    boot_id    TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    proc_start INTEGER,
    started_at REAL NOT NULL,
    heartbeat  REAL NOT NULL,
    ttl        REAL NOT NULL
)
"""
COLUMNS = "instance, host, boot_id, pid, proc_start, started_at, heartbeat, ttl"


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
    """Synchronous access to ``leases``; call from one worker thread at a time."""

    def __init__(self, db: Path, *, busy_timeout_ms: int = 1000) -> None:
        self.conn = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")

    def setup(self) -> None:
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'leases'"
        ).fetchone()
        if not exists:
            self.conn.execute(DDL)

    def put(self, lease: Lease) -> None:
        self.conn.execute(
            f"INSERT OR REPLACE INTO leases ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            (lease.instance, lease.host, lease.boot_id, lease.pid, lease.proc_start,
             lease.started_at, lease.heartbeat, lease.ttl),
        )  # fmt: skip

    def renew(self, lease: Lease, now: float) -> bool:
        """Move the heartbeat on; False when the row is gone (another process expired it)."""
        cur = self.conn.execute(
            "UPDATE leases SET heartbeat = ? WHERE instance = ? AND started_at = ?",
            (now, lease.instance, lease.started_at),
        )
        return cur.rowcount == 1

    def remove(self, lease: Lease) -> None:
        self.conn.execute(
            "DELETE FROM leases WHERE instance = ? AND started_at = ?",
            (lease.instance, lease.started_at),
        )

    def all(self) -> list[Lease]:
        rows = self.conn.execute(f"SELECT {COLUMNS} FROM leases").fetchall()
        return [Lease(*row) for row in rows]

    def close(self) -> None:
        self.conn.close()
