"""Events about the log itself: an accepted chain break, an erasure of content."""

from __future__ import annotations

import msgspec

#: The stream these events are appended to (besides the erased run's or webhook's own stream).
LOG_STREAM = "log"


class ChainBreakAccepted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """An operator accepted a broken chain in ``first..last``; appends resume after it."""

    first: int
    last: int
    detail: str
    by: str
    reason: str


class ErasedDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """What stays known of a webhook delivery whose body was erased (for the deliveries view)."""

    delivery_id: str
    webhook_id: str
    dedupe_key: str
    run_id: str
    headers: dict[str, str]
    body_is_json: bool
    verification: str
    source: str = ""
    replay_of: str | None = None
    received_at_us: int = 0


class ContentErased(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The data of the events at ``positions`` (run output, webhook bodies) was erased.

    The rows stay, with their erasable fields replaced by ``"[erased]"``; the chain keeps
    verifying through the digest recorded for each row. ``policy`` names a retention rule when
    the erasure was not on demand.
    """

    run_id: str
    positions: tuple[int, ...]
    by: str
    reason: str
    policy: str | None = None
    deliveries: tuple[ErasedDelivery, ...] = ()


IntegrityEvent = ChainBreakAccepted | ContentErased
