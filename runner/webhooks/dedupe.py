"""The provider's delivery id, the dedupe key built from it, and header masking for storage.

A delivery is deduplicated only on an id the provider gives it (``webhook-id``,
``X-GitHub-Delivery``, the Stripe event id, ``Idempotency-Key``) — never on a hash of the body:
two genuinely different events may carry identical bodies. Without an id, a delivery gets a fresh
id and is never treated as a duplicate.

Every id is hashed into a bounded key (``<webhook id>:<32 hex>``) whatever its length or
characters, so no id can slip past deduplication; an id longer than :data:`MAX_ID_LENGTH` is
absurd and the delivery is refused (:class:`DeliveryIdRefused`) rather than accepted without a
dedupe key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from events.webhooks import VerificationScheme
from runner.secrets import mask
from runner.webhooks.verify import HeadersLike, get_header

__all__ = [
    "MAX_ID_LENGTH",
    "SENSITIVE_HEADERS",
    "DeliveryId",
    "DeliveryIdRefused",
    "dedupe_key",
    "is_sensitive_header",
    "mask_headers",
    "provider_delivery_id",
]

MAX_ID_LENGTH = 1024
"""Longest provider id accepted (Svix and GitHub send ~40 characters; Stripe ~30)."""

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-hub-signature",
        "x-hub-signature-256",
        "stripe-signature",
        "webhook-signature",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-gitlab-token",
    }
)
_SENSITIVE_PARTS = ("auth", "token", "secret", "signature", "password", "session", "cookie", "key")
_NOT_SENSITIVE = frozenset({"idempotency-key", "x-idempotency-key"})
_HEADER_ORDER: dict[str, tuple[str, ...]] = {
    "standard_webhooks": ("webhook-id",),
    "github": ("x-github-delivery",),
    "stripe": (),
    "url_token": (),
}


@dataclass(frozen=True, slots=True)
class DeliveryId:
    """A provider-assigned delivery id and its source (a header name or ``stripe-event``)."""

    source: str
    value: str


class DeliveryIdRefused(ValueError):
    """A provider id too long to be genuine: the delivery is refused (400), never accepted
    without deduplication."""

    def __init__(self, source: str, length: int) -> None:
        super().__init__(
            f"delivery id in {source} is {length} characters; the limit is {MAX_ID_LENGTH}"
        )
        self.source = source
        self.length = length


class _StripeEvent(msgspec.Struct):
    id: str | None = None


def _clean(value: str | None, source: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_ID_LENGTH:
        raise DeliveryIdRefused(source, len(value))
    return value


def _stripe_event_id(body: bytes) -> str | None:
    try:
        event = msgspec.json.decode(body, type=_StripeEvent)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return _clean(event.id, "the Stripe event id")


def provider_delivery_id(
    headers: HeadersLike, body: bytes, scheme: VerificationScheme | None = None
) -> DeliveryId | None:
    """The provider's id of this delivery, or None when it has none.

    The scheme's own id comes first (``webhook-id`` for Standard Webhooks, ``X-GitHub-Delivery``
    for GitHub, the body's ``id`` for Stripe); then ``webhook-id``, ``X-GitHub-Delivery``, the
    Stripe event id when a ``Stripe-Signature`` header is present, and ``Idempotency-Key``. The
    body is read only for Stripe, and only when it parses as a JSON object with a string ``id``.
    Raises :class:`DeliveryIdRefused` when the id that applies is longer than
    :data:`MAX_ID_LENGTH`; any other id, printable or not, is used (it is hashed).
    """
    order = list(_HEADER_ORDER.get(scheme or "", ()))
    for name in ("webhook-id", "x-github-delivery"):
        if name not in order:
            order.append(name)
    is_stripe = scheme == "stripe" or get_header(headers, "stripe-signature") is not None
    if scheme == "stripe":
        order.insert(0, "stripe-event")
    elif is_stripe:
        order.append("stripe-event")
    order.append("idempotency-key")
    for name in order:
        if name == "stripe-event":
            value = _stripe_event_id(body)
        else:
            value = _clean(get_header(headers, name), name)
        if value is not None:
            return DeliveryId(source=name, value=value)
    return None


def dedupe_key(webhook_id: str, delivery: DeliveryId | None) -> str:
    """The unique dedupe key of a delivery on one endpoint: ``<webhook_id>:<32 hex>``.

    Deterministic for a provider id (same id, same key); random for ``None`` (a delivery without
    an id is never a duplicate). Bounded and of safe characters, so a run id can derive from it.
    """
    if delivery is None:
        return f"{webhook_id}:{secrets.token_hex(16)}"
    digest = hashlib.sha256(
        f"{delivery.source}\x00{delivery.value}".encode("utf-8", "surrogateescape")
    ).hexdigest()
    return f"{webhook_id}:{digest[:32]}"


def is_sensitive_header(name: str) -> bool:
    """True for headers whose value must be masked before storage or display."""
    lowered = name.lower()
    if lowered in _NOT_SENSITIVE:
        return False
    return lowered in SENSITIVE_HEADERS or any(part in lowered for part in _SENSITIVE_PARTS)


def mask_headers(headers: HeadersLike) -> dict[str, str]:
    """Headers with lower-cased names (repeated names joined by ``", "``) and every sensitive
    value masked (at most its last 4 characters)."""
    out: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        lowered = name.lower()
        shown = mask(value) if is_sensitive_header(lowered) else value
        out[lowered] = f"{out[lowered]}, {shown}" if lowered in out else shown
    return out
