"""Webhook verification schemes, always over the raw body bytes and in constant time.

Every verifier takes the list of currently valid secrets (during a rotation grace period the new
and the old one), never raises on bad input, and returns a :class:`Verification` whose ``reason``
is a short fixed code — it never contains a secret, a signature or body bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from secrets import token_bytes, token_urlsafe
from typing import TypeAlias

from events.webhooks import VerificationScheme

__all__ = [
    "DEFAULT_TOLERANCE",
    "SCHEMES",
    "Clock",
    "HeadersLike",
    "Verification",
    "generate_secret",
    "get_header",
    "sign_github",
    "sign_standard_webhooks",
    "sign_stripe",
    "validate_secret",
    "verify",
    "verify_github",
    "verify_standard_webhooks",
    "verify_stripe",
    "verify_url_token",
]

HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
Clock: TypeAlias = Callable[[], float]
DEFAULT_TOLERANCE = 300
SCHEMES: tuple[VerificationScheme, ...] = ("url_token", "standard_webhooks", "github", "stripe")

_WHSEC = "whsec_"
_DIGITS = re.compile(r"[0-9]{1,15}")
_MAX_HEADER = 8192


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of a verification: ``ok`` and a short reason code (``"ok"`` on success).

    ``secret_index`` is the position in the secrets list that matched (0 = newest), so callers
    can tell when a provider still signs with a rotating-out secret.
    """

    ok: bool
    reason: str
    scheme: VerificationScheme
    secret_index: int | None = None


def _fail(scheme: VerificationScheme, reason: str) -> Verification:
    return Verification(ok=False, reason=reason, scheme=scheme)


def get_header(headers: HeadersLike, name: str) -> str | None:
    """The first value of header *name*, looked up case-insensitively, or None."""
    wanted = name.lower()
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _eq(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _match(
    scheme: VerificationScheme, expected: list[bytes], given: Sequence[bytes]
) -> Verification:
    """Try every (secret, signature) pair without stopping early; report the first secret hit."""
    hit: int | None = None
    for index, exp in enumerate(expected):
        for candidate in given:
            if _eq(exp, candidate) and hit is None:
                hit = index
    if hit is None:
        return _fail(scheme, "signature_mismatch")
    return Verification(ok=True, reason="ok", scheme=scheme, secret_index=hit)


def _check_time(
    scheme: VerificationScheme, stamp: str, clock: Clock, tolerance: int
) -> Verification | None:
    if not _DIGITS.fullmatch(stamp):
        return _fail(scheme, "bad_timestamp")
    delta = clock() - int(stamp)
    if delta > tolerance:
        return _fail(scheme, "timestamp_expired")
    if delta < -tolerance:
        return _fail(scheme, "timestamp_in_future")
    return None


def _usable(secrets: Sequence[str]) -> list[str]:
    return [s for s in secrets if isinstance(s, str) and s]


# --- url token -----------------------------------------------------------------------------------


def verify_url_token(token: str | None, secrets: Sequence[str]) -> Verification:
    """Compare the token from the URL path with each valid secret."""
    scheme: VerificationScheme = "url_token"
    valid = _usable(secrets)
    if not valid:
        return _fail(scheme, "no_secret")
    if not token:
        return _fail(scheme, "missing_token")
    if len(token) > _MAX_HEADER:
        return _fail(scheme, "token_mismatch")
    result = _match(scheme, [_b(s) for s in valid], [_b(token)])
    return result if result.ok else _fail(scheme, "token_mismatch")


# --- Standard Webhooks ---------------------------------------------------------------------------


def _whsec_key(secret: str) -> bytes | None:
    text = secret[len(_WHSEC) :] if secret.startswith(_WHSEC) else secret
    try:
        key = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        return None
    return key or None


def sign_standard_webhooks(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) a Standard Webhooks sender would send."""
    key = _whsec_key(secret)
    if key is None:
        raise ValueError("not a whsec_ base64 secret")
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_standard_webhooks(
    body: bytes,
    headers: HeadersLike,
    secrets: Sequence[str],
    *,
    clock: Clock = time.time,
    tolerance: int = DEFAULT_TOLERANCE,
) -> Verification:
    """Standard Webhooks v1: HMAC-SHA256 over ``id.timestamp.body``, ±*tolerance* seconds,
    any of the space-separated ``v1,<base64>`` signatures."""
    scheme: VerificationScheme = "standard_webhooks"
    keys = [k for k in (_whsec_key(s) for s in _usable(secrets)) if k is not None]
    if not keys:
        return _fail(scheme, "no_secret")
    msg_id = get_header(headers, "webhook-id")
    stamp = get_header(headers, "webhook-timestamp")
    sig_header = get_header(headers, "webhook-signature")
    if not msg_id or stamp is None or not sig_header:
        return _fail(scheme, "missing_headers")
    if "." in msg_id or len(msg_id) > _MAX_HEADER or len(sig_header) > _MAX_HEADER:
        return _fail(scheme, "malformed_headers")
    stamp = stamp.strip()
    late = _check_time(scheme, stamp, clock, tolerance)
    if late is not None:
        return late
    given = [
        _b(part[3:]) for part in sig_header.split() if part.startswith("v1,") and len(part) > 3
    ]
    if not given:
        return _fail(scheme, "malformed_signature")
    content = _b(f"{msg_id}.{stamp}.") + body
    expected = [base64.b64encode(hmac.new(k, content, hashlib.sha256).digest()) for k in keys]
    return _match(scheme, expected, given)


# --- GitHub --------------------------------------------------------------------------------------


def sign_github(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send."""
    return "sha256=" + hmac.new(_b(secret), body, hashlib.sha256).hexdigest()


def verify_github(body: bytes, headers: HeadersLike, secrets: Sequence[str]) -> Verification:
    """GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

    GitHub signs no timestamp; replays are stopped by deduplicating on ``X-GitHub-Delivery``.
    """
    scheme: VerificationScheme = "github"
    valid = _usable(secrets)
    if not valid:
        return _fail(scheme, "no_secret")
    header = get_header(headers, "X-Hub-Signature-256")
    if not header:
        return _fail(scheme, "missing_headers")
    header = header.strip()
    if not header.startswith("sha256=") or len(header) > _MAX_HEADER:
        return _fail(scheme, "malformed_signature")
    given = [_b(header[len("sha256=") :].lower())]
    expected = [_b(hmac.new(_b(s), body, hashlib.sha256).hexdigest()) for s in valid]
    return _match(scheme, expected, given)


# --- Stripe --------------------------------------------------------------------------------------


def sign_stripe(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` value Stripe would send."""
    mac = hmac.new(_b(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_stripe(
    body: bytes,
    headers: HeadersLike,
    secrets: Sequence[str],
    *,
    clock: Clock = time.time,
    tolerance: int = DEFAULT_TOLERANCE,
) -> Verification:
    """Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`` over ``t.body``.

    Unlike stripe-python, timestamps more than *tolerance* in the future are rejected as well.
    """
    scheme: VerificationScheme = "stripe"
    valid = _usable(secrets)
    if not valid:
        return _fail(scheme, "no_secret")
    header = get_header(headers, "Stripe-Signature")
    if not header:
        return _fail(scheme, "missing_headers")
    if len(header) > _MAX_HEADER:
        return _fail(scheme, "malformed_signature")
    stamp: str | None = None
    given: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and stamp is None:
            stamp = value.strip()
        elif key == "v1" and value:
            given.append(_b(value.strip().lower()))
    if stamp is None or not given:
        return _fail(scheme, "malformed_signature")
    late = _check_time(scheme, stamp, clock, tolerance)
    if late is not None:
        return late
    content = _b(f"{stamp}.") + body
    expected = [_b(hmac.new(_b(s), content, hashlib.sha256).hexdigest()) for s in valid]
    return _match(scheme, expected, given)


# --- dispatch and secrets ------------------------------------------------------------------------


def verify(
    scheme: VerificationScheme,
    *,
    body: bytes,
    headers: HeadersLike,
    secrets: Sequence[str],
    url_token: str | None = None,
    clock: Clock = time.time,
    tolerance: int = DEFAULT_TOLERANCE,
) -> Verification:
    """Verify a delivery with the endpoint's *scheme*; never raises."""
    if scheme == "url_token":
        return verify_url_token(url_token, secrets)
    if scheme == "standard_webhooks":
        return verify_standard_webhooks(body, headers, secrets, clock=clock, tolerance=tolerance)
    if scheme == "github":
        return verify_github(body, headers, secrets)
    if scheme == "stripe":
        return verify_stripe(body, headers, secrets, clock=clock, tolerance=tolerance)
    return Verification(ok=False, reason="unknown_scheme", scheme=scheme)


def generate_secret(scheme: VerificationScheme) -> str:
    """A fresh secret for *scheme*: ``whsec_`` + base64 of 32 random bytes for Standard Webhooks,
    a 256-bit URL-safe token otherwise (the URL token is the path segment itself)."""
    if scheme == "standard_webhooks":
        return _WHSEC + base64.b64encode(token_bytes(32)).decode("ascii")
    return token_urlsafe(32)


def validate_secret(scheme: VerificationScheme, secret: str) -> list[str]:
    """Problems with a user-supplied secret (e.g. pasted from GitHub or Stripe); empty when fine."""
    if not secret:
        return ["the secret is empty"]
    if secret != secret.strip():
        return ["the secret has leading or trailing whitespace"]
    if len(secret) > 1024:
        return ["the secret is longer than 1024 characters"]
    if scheme == "standard_webhooks":
        key = _whsec_key(secret)
        if key is None:
            return ["a Standard Webhooks secret is 'whsec_' followed by base64"]
        if not 24 <= len(key) <= 64:
            return ["a Standard Webhooks secret must decode to 24-64 bytes"]
    elif scheme == "url_token":
        if len(secret) < 22 or not re.fullmatch(r"[A-Za-z0-9_-]+", secret):
            return ["a URL token needs at least 22 URL-safe characters (128 bits)"]
    elif len(secret) < 16:
        return ["the secret should be at least 16 characters"]
    return []
