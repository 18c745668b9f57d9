"""Dashboard and API access: sessions, API tokens, CSRF, login rate limit, security headers.

Reusable by other Quart blueprints on the same app (the OAuth consent page): ``current_user()``,
``login_required``, ``csrf_token()`` / ``csrf_ok()``; the global guard already protects every
path except the public ones below.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from quart import Response, g, jsonify, redirect, request, session, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from runner.secrets import constant_time_equals
from web.context import web

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/", "/hooks/")
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
CSRF_EXEMPT_PREFIXES = ("/hooks/",)
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_KEY_FILE = "web-session.key"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
AnyResponse = Response | WerkzeugResponse


def session_secret(data_dir: Path) -> str:
    """The session-signing secret, derived from a 0600 key file that survives restarts."""
    path = data_dir / SESSION_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    key = bytes.fromhex(path.read_text().strip())
    return hmac.new(key, b"claude-runner/web-session/v1", hashlib.sha256).hexdigest()


def password_version(password_hash: str) -> str:
    """Sessions carry this; a password change logs every other session out."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class LoginLimiter:
    """Failed sign-ins per client address (IPv6 per /64) and in total, in a sliding window.

    An address with ``per_client`` recent failures waits until the oldest leaves the window.
    Past ``total`` failures from everywhere (a spray from many addresses) an address that has
    failed at all waits too, but an address with a clean record may still try: the owner is
    slowed by an attack, never locked out from everywhere.
    """

    def __init__(
        self,
        per_client: int = 5,
        total: int = 50,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.total = total
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0 when allowed)."""
        now = self.clock()
        key = client_key(client)
        q = self._failures.get(key, deque())
        self._trim(q, now)
        self._trim(self._all, now)
        waits = [0.0]
        if len(q) >= self.per_client:
            waits.append(q[0] + self.window - now)
        if q and len(self._all) >= self.total:
            waits.append(q[-1] + self.window - now)
        return max(waits)

    def failed(self, client: str) -> None:
        now = self.clock()
        self._failures.setdefault(client_key(client), deque()).append(now)
        self._all.append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, client: str) -> None:
        self._failures.pop(client_key(client), None)


def client_key(address: str) -> str:
    """The rate-limit key of an address: IPv4 as is, IPv6 by its /64 (one host's range)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def current_user() -> str | None:
    """The signed-in user (``admin``), ``token:<name>`` for API tokens, or None."""
    return cast(str | None, g.get("user"))


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return str(tok)


async def csrf_ok() -> bool:
    """The request carries this session's CSRF token (header or form field)."""
    expected = session.get("csrf")
    if not expected:
        return False
    given = request.headers.get(CSRF_HEADER)
    if not given and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        given = (await request.form).get(CSRF_FIELD)
    return bool(given) and constant_time_equals(str(given), str(expected))


def login_required(view: F) -> F:
    """Redirect to the login page (or 401 under ``/api``) unless someone is signed in."""

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _unauthenticated()
        return await view(*args, **kwargs)

    return cast(F, wrapper)


def api_error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    resp = jsonify({"error": body})
    resp.status_code = status
    return resp


def _unauthenticated() -> AnyResponse:
    if request.path.startswith("/api/"):
        resp = api_error(401, "unauthorized", "sign in or send 'Authorization: Bearer <token>'")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="claude-runner"'
        return resp
    nxt = request.full_path if request.method == "GET" else "/"
    return redirect(url_for("pages.login", next=nxt.rstrip("?")))


async def guard() -> AnyResponse | None:
    """``before_request``: who is calling, and may they do this."""
    g.user = None
    g.via = None
    path = request.path
    if path.startswith(PUBLIC_PREFIXES):
        return None
    w = web()
    authz = request.headers.get("Authorization", "")
    if authz[:7].lower() == "bearer ":
        tok = await w.access.token_user(authz[7:].strip())
        if tok is None:
            resp = api_error(401, "unauthorized", "the API token is invalid or revoked")
            resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return resp
        g.user = f"token:{tok.name}"
        g.via = "token"
        return None  # a bearer request carries no ambient credential: no CSRF needed
    user = session.get("user")
    if user:
        # Server-side: the signed cookie names a session the log says is live (logout,
        # "sign out everywhere" and a password change end it for every copy of the cookie).
        live = await w.access.session_user(str(session.get("sid") or ""))
        admin = await w.access.admin(str(user))
        if (
            live == str(user)
            and admin is not None
            and session.get("pwv") == password_version(admin.password_hash)
        ):
            g.user = str(user)
            g.via = "session"
        else:
            session.clear()
    if g.user is None and path not in PUBLIC_PATHS:
        return _unauthenticated()
    if request.method not in SAFE_METHODS and not await csrf_ok():
        if path.startswith("/api/"):
            return api_error(403, "csrf", f"missing or wrong CSRF token (send {CSRF_HEADER})")
        return Response("Missing or wrong CSRF token: reload the page and try again.", 403)
    return None


def security_headers(resp: Response) -> Response:
    """``after_request``: headers every dashboard/API response carries."""
    h = resp.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")
    if (web().runner.config.public_url or "").startswith("https://"):
        h.setdefault("Strict-Transport-Security", HSTS)
    return resp


def safe_next(target: str | None, fallback: str) -> str:
    """``target`` when it is a path on this site, else ``fallback`` (no open redirect).

    Browsers (WHATWG URL parsing) treat ``\\`` like ``/`` and drop tabs and newlines, so
    ``/\\evil.example`` and ``/\t/evil.example`` mean ``//evil.example``: another host. A target
    must be one absolute path whose second character is neither separator, free of control
    characters and backslashes, with no scheme or authority after normalisation.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return fallback
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return fallback
    if target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def client_address() -> str:
    return str(request.remote_addr or "unknown")
