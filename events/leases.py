"""Lease events: a service process holds a liveness lease; its start and its end are history.

Heartbeats are not events (one every few seconds per process would dominate the log); they are
a row in the ``leases`` table beside the log (``actors/leases.py``). Each lease generation has
its own stream ``lease-<instance>:<started_us>``: ``LeaseAcquired`` at version 0, then exactly
one of ``LeaseReleased`` (clean stop) or ``LeaseExpired`` (another process found it dead),
appended with ``expected=0`` so two processes can never both expire it.
"""

from __future__ import annotations

import msgspec


class LeaseAcquired(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    instance: str
    host: str
    boot_id: str
    pid: int
    started_at: float
    ttl_seconds: float
    node: str = ""
    """The node's name (``RUNNER_NODE_NAME``); empty in leases taken before nodes had names."""
    labels: tuple[str, ...] = ()
    """The labels the node carries: runs pinned to one of them may be claimed by it."""


class LeaseReleased(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    instance: str


class LeaseExpired(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    instance: str
    by: str
    reason: str
    last_heartbeat: float


LeaseEvent = LeaseAcquired | LeaseReleased | LeaseExpired
