"""The relay's ASGI app: the part of the Messages API the CLI uses, passed through.

``POST /v1/messages`` (any query, e.g. ``?beta=true``) and ``POST /v1/messages/count_tokens``
are forwarded with the real credential; the reply's bytes go back unchanged as they arrive.
``HEAD`` anything is answered here (200, the CLI's connectivity probe). Every refusal has the
API's own error shape: 401 for an unknown token, 402 ``billing_error`` with
``x-should-retry: false`` for a run that ended or ran out of budget (the CLI gives up at once),
400/404/405/413 for bad requests. A raw ASGI app: no framework between the CLI and the stream.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import msgspec

from actors.relay.budgets import Reservation
from actors.relay.meter import Meter
from actors.relay.prices import output_usd_per_token
from actors.relay.upstream import response_headers

if TYPE_CHECKING:
    from actors.relay.relay import Relay

log = logging.getLogger("runner.relay")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
MAX_BODY = 32 * 1024 * 1024
"""The CLI's own request limit (its 413 text says 32 MB)."""


class CallBody(msgspec.Struct, kw_only=True):
    """The few fields of a Messages request the relay reads (the rest passes untouched)."""

    model: str
    stream: bool = False
    max_tokens: int | None = None


_call = msgspec.json.Decoder(CallBody)
_any = msgspec.json.Decoder(dict[str, Any])
_enc = msgspec.json.Encoder()


class _Gone(Exception):
    """The client went away before its request was read."""


class Refused(Exception):
    def __init__(self, status: int, kind: str, message: str, *, final: bool = True) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.final = status, kind, message, final


async def send_error(send: Send, status: int, kind: str, message: str, final: bool) -> None:
    body = _enc.encode({"type": "error", "error": {"type": kind, "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if final:
        headers.append((b"x-should-retry", b"false"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def token_of(headers: dict[str, str]) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def capped_body(raw: bytes, max_tokens: int) -> bytes:
    """The request with ``max_tokens`` lowered (and a thinking budget kept below it)."""
    body = _any.decode(raw)
    body["max_tokens"] = max_tokens
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget >= max_tokens:
            if max_tokens > 1024:  # the API's smallest thinking budget
                body["thinking"] = {**thinking, "budget_tokens": max_tokens - 1}
            else:
                body["thinking"] = {"type": "disabled"}
    return _enc.encode(body)


class RelayApp:
    """``Relay`` owns the state; this class speaks HTTP."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._http(scope, receive, send)
        except Refused as r:
            await send_error(send, r.status, r.kind, r.message, r.final)
        except _Gone:
            return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "HEAD":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        path = scope["path"]
        if path not in (MESSAGES, COUNT_TOKENS):
            raise Refused(404, "not_found_error", f"The model relay does not serve {path[:200]}")
        if method != "POST":
            raise Refused(405, "invalid_request_error", f"{method} is not allowed on {path}")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        relay = self.relay
        token = token_of(headers)
        grant = relay.grants.find(token) if token else None
        if grant is None:
            relay.counters.unknown_tokens += 1
            await relay.refused_unknown(scope.get("client"))
            raise Refused(401, "authentication_error", "Unknown or missing relay token")
        if grant.ended is not None:
            relay.counters.refused += 1
            await relay.refused(grant, "run_ended", f"Run ended: {grant.ended}")
            raise Refused(402, "billing_error", f"Run ended: {grant.ended}")
        raw = await _read_body(headers, receive)
        try:
            call = _call.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            relay.counters.bad_requests += 1
            raise Refused(400, "invalid_request_error", f"Invalid request body: {exc}"[:500])
        target = path + (
            ("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else ""
        )
        if path == COUNT_TOKENS:  # not billed, not metered
            await self._forward(scope, receive, send, target, headers, raw, None)
            return
        ledger = relay.ledger
        while (decision := ledger.check(grant, call.model, call.max_tokens)).wait:
            with anyio.move_on_after(1.0):  # and look again now and then
                await ledger.settled()
            if grant.ended is not None:
                raise Refused(402, "billing_error", f"Run ended: {grant.ended}")
        if decision.refuse is not None:
            relay.counters.refused += 1
            await relay.budget_refused(grant, decision.refuse, decision.detail)
            raise Refused(402, "billing_error", decision.detail)
        if decision.max_tokens is not None:
            raw = capped_body(raw, decision.max_tokens)
        out = decision.max_tokens or call.max_tokens or 0
        held = ledger.reserve(grant, out * output_usd_per_token(call.model))
        call_info = _CallInfo(grant=grant, body=call, capped=decision.max_tokens, held=held)
        await self._forward(scope, receive, send, target, headers, raw, call_info)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        call: _CallInfo | None,
    ) -> None:
        relay = self.relay
        counters = relay.counters
        x = _Exchange(Meter(streaming=bool(call and call.body.stream)))
        cut = anyio.CancelScope()
        if call is not None:
            call.grant.streams.add(cut)
            if call.grant.ended is not None:  # revoked while the body was read
                cut.cancel()
        counters.waiting += 1
        waiting = True
        try:
            with cut:
                assert relay.upstream is not None
                async with relay.upstream.limiter:
                    counters.waiting -= 1
                    waiting = False
                    counters.in_flight += 1
                    counters.calls += 1
                    try:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(_watch_disconnect, receive, tg.cancel_scope)
                            await self._exchange(send, target, headers, raw, call, x)
                            tg.cancel_scope.cancel()
                    finally:
                        counters.in_flight -= 1
        finally:
            if waiting:
                counters.waiting -= 1
            with anyio.CancelScope(shield=True):
                if x.resp is not None:
                    await x.resp.aclose()
                if call is not None:
                    call.grant.streams.discard(cut)
                    if not x.charged:
                        x.meter.finish()
                        relay.charge(call, x.meter)
                    if x.status:
                        await relay.metered(
                            call,
                            x.meter,
                            status=x.status,
                            request_id=x.request_id,
                            retries=x.retries,
                            partial=not x.finished
                            or (x.status == 200 and x.meter.streaming and not x.meter.complete),
                            ttfb=x.ttfb,
                            duration=time.perf_counter() - x.started,
                        )
        if x.error is not None:
            raise x.error
        if not x.sent_start and call is not None and call.grant.ended is not None:
            raise Refused(402, "billing_error", f"Run ended: {call.grant.ended}")
        # Not finished (revoked mid-stream, upstream broke): return without ending the body, so
        # Hypercorn closes the connection and the CLI sees a cut stream, never a complete one.

    async def _exchange(
        self,
        send: Send,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        call: _CallInfo | None,
        x: _Exchange,
    ) -> None:
        relay = self.relay
        up = relay.upstream
        assert up is not None
        try:
            x.resp, x.retries = await up.send("POST", target, up.headers(headers), raw)
        except httpx2.HTTPError as exc:
            relay.counters.upstream_errors += 1
            log.warning("model API unreachable: %s", type(exc).__name__)
            x.error = Refused(503, "api_error", "The model API is unreachable", final=False)
            return
        resp = x.resp
        x.status = resp.status_code
        x.request_id = resp.headers.get("request-id")
        start = {"type": "http.response.start", "status": x.status}
        await send({**start, "headers": response_headers(resp.headers)})
        x.sent_start = True
        meter = x.meter
        try:
            async for chunk in resp.aiter_raw():
                if not x.ttfb:
                    x.ttfb = time.perf_counter() - x.started
                meter.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx2.HTTPError as exc:
            relay.counters.upstream_errors += 1
            log.warning("model API stream broke: %s", type(exc).__name__)
            return
        meter.finish()
        if call is not None:  # counted before the CLI can start its next call
            relay.charge(call, meter)
            x.charged = True
        x.finished = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Exchange:
    """The state of one forwarded call, read again by the shielded bookkeeping at its end."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.started = time.perf_counter()
        self.resp: httpx2.Response | None = None
        self.status = 0
        self.request_id: str | None = None
        self.retries = 0
        self.ttfb = 0.0
        self.sent_start = False
        self.finished = False
        self.charged = False
        self.error: Refused | None = None


class _CallInfo:
    def __init__(
        self, *, grant: Any, body: CallBody, capped: int | None, held: Reservation
    ) -> None:
        self.grant = grant
        self.body = body
        self.capped = capped
        self.held = held
        self.call_id = uuid.uuid4().hex


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            scope.cancel()
            return


async def _read_body(headers: dict[str, str], receive: Receive) -> bytes:
    declared = headers.get("content-length")
    try:
        too_big = declared is not None and int(declared) > MAX_BODY
    except ValueError:
        raise Refused(400, "invalid_request_error", "Invalid Content-Length")
    parts: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise _Gone
        chunk = msg.get("body", b"")
        size += len(chunk)
        too_big = too_big or size > MAX_BODY
        if too_big:
            parts.clear()  # drain (bounded) so the client reads our answer, not a reset
            if size > 2 * MAX_BODY:
                break
        else:
            parts.append(chunk)
        if not msg.get("more_body"):
            break
    if too_big:
        raise Refused(413, "request_too_large", "Request exceeds the 32 MB limit")
    return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
