"""The ASGI edge around every app on the port: limits and headers no app can forget.

Hypercorn has no body read timeout and no per-client limit, so this layer, wrapped around the
:class:`~web.dispatch.PathDispatcher`, gives every route (dashboard, API, webhooks, MCP, OAuth):

* a **per-source cap** on requests in flight (one HTTP/1.1 connection carries one at a time),
  answered 429 + ``Retry-After`` beyond it;
* a **body read deadline**: the whole body must arrive within ``body_timeout`` seconds of the
  request's start, else 408 and the connection is closed; bodies are read here (bounded by
  ``max_body``, 413 beyond) and replayed to the app, so no app ever waits on a slow client;
* **early rejection**: a ``before_body`` hook (webhook ingress: unknown id, wrong URL token) may
  answer before a single body byte is read;
* the **security headers** on every response (``nosniff``, ``DENY`` framing, referrer policy, a
  restrictive CSP when the app set none) and HSTS when the public URL is https.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import msgspec

from web.mcp_mount import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("web.edge")

Early = tuple[int, dict[str, object], dict[str, str]]
"""An early answer: status, JSON body, extra headers."""
BeforeBody = Callable[[Scope], Awaitable[Early | None]]
BASE_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
}
DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
HSTS = b"max-age=31536000; includeSubDomains"


@dataclass
class EdgeLimits:
    """The knobs (defaults fit one admin, a few scripts and webhook providers)."""

    per_source: int = 64
    body_timeout: float = 30.0
    max_body: int = 8 * 1024 * 1024
    hsts: bool = False


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Edge:
    """ASGI middleware: per-source cap, body deadline, early rejection, security headers."""

    def __init__(
        self,
        app: ASGIApp,
        limits: EdgeLimits | None = None,
        *,
        before_body: BeforeBody | None = None,
    ) -> None:
        self.app = app
        self.limits = limits or EdgeLimits()
        self.before_body = before_body
        self.in_flight: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        source = str((scope.get("client") or ("unknown", 0))[0])
        send = self._with_headers(send)
        if self.in_flight[source] >= self.limits.per_source:
            self.stats["over_cap"] += 1
            await _answer(send, 429, {"error": {"code": "rate_limited", "message":
                          "too many open requests from this address; retry later"}},
                          {"Retry-After": "5"})  # fmt: skip
            return
        self.in_flight[source] += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight[source] -= 1
            if self.in_flight[source] <= 0:
                del self.in_flight[source]

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.before_body is not None:
            early = await self.before_body(scope)
            if early is not None:
                self.stats["early"] += 1
                status, payload, headers = early
                await _answer(send, status, payload, {**headers, "Connection": "close"})
                return
        try:
            body = await self._read_body(scope, receive)
        except _Refused as exc:
            self.stats[exc.code] += 1
            await _answer(send, exc.status, {"error": {"code": exc.code, "message": exc.message}},
                          {"Connection": "close"})  # fmt: skip
            return
        if body is None:  # the client went away
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = _content_length(scope)
        if declared is not None and declared > self.limits.max_body:
            raise _Refused(
                413, "too_large", f"the body is larger than {self.limits.max_body} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.limits.body_timeout) as timer:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.limits.max_body:
                    raise _Refused(
                        413, "too_large", f"the body is larger than {self.limits.max_body} bytes"
                    )
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        assert timer.cancelled_caught
        raise _Refused(
            408,
            "body_timeout",
            f"the request body did not arrive within {self.limits.body_timeout:g} s",
        )

    def _with_headers(self, send: Send) -> Send:
        hsts = self.limits.hsts

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {bytes(k).lower() for k, _ in headers}
                for name, value in BASE_HEADERS.items():
                    if name not in present:
                        headers.append((name, value))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP))
                if hsts and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS))
                message = {**message, "headers": headers}
            await send(message)

        return sending


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if bytes(name).lower() == b"content-length":
            try:
                return int(bytes(value))
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the real channel (for ``http.disconnect``)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(
    send: Send, status: int, body: dict[str, object], headers: dict[str, str]
) -> None:
    payload = msgspec.json.encode(body)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
           (b"cache-control", b"no-store")]  # fmt: skip
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
