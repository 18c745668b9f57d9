"""The webhook ingest pipeline, independent of the web framework.

In this order: the endpoint (unknown or disabled: 404) → the raw body under the size limit (413)
→ verification over the raw bytes (401 and a ``WebhookRejected`` without the body) → the
endpoint's rate limit (429 + ``Retry-After``) → the provider's delivery id (an absurdly long one:
400) → dedupe on that id, hashed into a bounded key, and the
durable append of ``WebhookReceived`` to a stream only one delivery can create (202 with the
delivery and run ids; a duplicate: 200 with the original ids). The webhook actor turns the event
into a run.

Rejection events are themselves rate-limited per source address, so a flood of forgeries cannot
flood the log: suppressed rejections are counted and the next recorded one says how many.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from events.envelope import Meta
from events.errors import ConcurrencyError, StoreError
from events.webhooks import VerificationScheme, WebhookRejected
from runner.commands.webhooks import (
    HookEntry,
    WebhookCommands,
    decide_delivery,
    rejection_stream,
)
from runner.webhooks.dedupe import (
    MAX_ID_LENGTH,
    DeliveryIdRefused,
    mask_headers,
    provider_delivery_id,
)
from runner.webhooks.ratelimit import RateLimiter
from runner.webhooks.verify import DEFAULT_TOLERANCE, HeadersLike, verify, verify_url_token

__all__ = ["MAX_BODY_BYTES", "IngestResult", "WebhookIngest"]

log = logging.getLogger("runner.webhooks")
MAX_BODY_BYTES = 1 << 20
REJECTIONS_PER_MINUTE = 30.0
REJECTION_BURST = 10


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What to answer: a status, a small JSON body and extra headers (e.g. ``Retry-After``)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


NOT_FOUND = IngestResult(404, {"error": "not_found"})
UNAUTHORIZED = IngestResult(401, {"error": "verification_failed"})


class WebhookIngest:
    """One per process: holds the per-webhook and per-source token buckets."""

    def __init__(
        self,
        commands: WebhookCommands,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
        tolerance: int = DEFAULT_TOLERANCE,
        rejections_per_minute: float = REJECTIONS_PER_MINUTE,
        rejection_burst: int = REJECTION_BURST,
    ) -> None:
        self.commands = commands
        self.store = commands.store
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.tolerance = tolerance
        self.limits = RateLimiter()
        self.rejection_limits = RateLimiter()
        self.rejections_per_minute = rejections_per_minute
        self.rejection_burst = rejection_burst
        self.suppressed: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    async def endpoint(self, webhook_id: str) -> HookEntry | None:
        """The enabled endpoint, or None (the caller answers 404 without reading the body)."""
        entry = await self.commands.entry(webhook_id)
        if entry is None or not entry.hook.enabled:
            return None
        return entry

    async def precheck(
        self, webhook_id: str, *, url_token: str | None, headers: HeadersLike, source: str = ""
    ) -> IngestResult | None:
        """Before a body byte is read: unknown or disabled id (404), wrong URL token (401)."""
        entry = await self.endpoint(webhook_id)
        if entry is None:
            self.stats["not_found"] += 1
            return NOT_FOUND
        if entry.hook.scheme == "url_token":
            result = verify_url_token(url_token, entry.secrets(self.clock()))
            if not result.ok:
                self.stats["unauthorized"] += 1
                await self._reject(webhook_id, result.reason, 401, source, headers)
                return UNAUTHORIZED
        return None

    async def too_large(
        self, webhook_id: str, headers: HeadersLike, *, source: str = ""
    ) -> IngestResult:
        """The body exceeded the limit: 413 (recorded as a rejection, rate-limited)."""
        self.stats["too_large"] += 1
        await self._reject(webhook_id, "payload_too_large", 413, source, headers)
        return IngestResult(413, {"error": "payload_too_large", "limit_bytes": self.max_body_bytes})

    async def handle(
        self,
        webhook_id: str,
        body: bytes,
        headers: HeadersLike,
        *,
        url_token: str | None = None,
        source: str = "",
    ) -> IngestResult:
        """Run a delivery through the pipeline; never raises for bad input."""
        entry = await self.endpoint(webhook_id)
        if entry is None:
            self.stats["not_found"] += 1
            return NOT_FOUND
        if len(body) > self.max_body_bytes:
            return await self.too_large(webhook_id, headers, source=source)
        hook = entry.hook
        scheme: VerificationScheme = hook.scheme  # type: ignore[assignment]
        result = verify(
            scheme,
            body=body,
            headers=headers,
            secrets=entry.secrets(self.clock()),
            url_token=url_token,
            clock=self.clock,
            tolerance=self.tolerance,
        )
        if not result.ok:
            self.stats["unauthorized"] += 1
            await self._reject(webhook_id, result.reason, 401, source, headers)
            return UNAUTHORIZED
        decision = self.limits.check(
            webhook_id, rate_per_minute=hook.rate_per_minute, burst=hook.burst
        )
        if not decision.allowed:
            self.stats["rate_limited"] += 1
            await self._reject(webhook_id, "rate_limited", 429, source, headers)
            return IngestResult(
                429,
                {"error": "rate_limited", "retry_after": decision.retry_after_header},
                {"Retry-After": decision.retry_after_header},
            )
        try:
            provider_id = provider_delivery_id(headers, body, scheme)
        except DeliveryIdRefused as exc:
            self.stats["bad_delivery_id"] += 1
            await self._reject(webhook_id, "delivery_id_too_long", 400, source, headers)
            return IngestResult(
                400,
                {"error": "delivery_id_too_long", "detail": str(exc), "limit": MAX_ID_LENGTH},
            )
        chosen = decide_delivery(
            hook,
            body=body,
            masked_headers=mask_headers(headers),
            verification=result,
            provider_id=provider_id,
            source=source,
        )
        ids = {"delivery_id": chosen.delivery_id, "run_id": chosen.run_id}
        try:
            await self.store.append(
                chosen.stream,
                [chosen.event],
                expected="no_stream",
                meta=Meta(actor="webhook"),
            )
        except ConcurrencyError:
            self.stats["duplicate"] += 1
            return IngestResult(200, {**ids, "duplicate": True})
        except StoreError:
            log.exception("could not store a webhook delivery for %s", webhook_id)
            return IngestResult(503, {"error": "unavailable"}, {"Retry-After": "5"})
        self.stats["accepted"] += 1
        return IngestResult(202, {**ids, "duplicate": False})

    async def _reject(
        self, webhook_id: str, reason: str, status: int, source: str, headers: HeadersLike
    ) -> None:
        """Record a rejection unless this source already caused too many recently."""
        key = source or "unknown"
        allowed = self.rejection_limits.check(
            key, rate_per_minute=self.rejections_per_minute, burst=self.rejection_burst
        ).allowed
        if not allowed:
            self.suppressed[key] += 1
            self.stats["rejections_suppressed"] += 1
            return
        skipped = self.suppressed.pop(key, 0)
        if skipped:
            reason = f"{reason} (+{skipped} suppressed from this source)"
        event = WebhookRejected(
            webhook_id=webhook_id,
            reason=reason,
            status=status,
            source=source,
            headers=mask_headers(headers),
        )
        try:
            await self.store.append(
                rejection_stream(webhook_id), [event], meta=Meta(actor="webhook")
            )
        except Exception:  # a rejection we cannot record must not turn a 401 into a 500
            log.exception("could not record a webhook rejection for %s", webhook_id)
