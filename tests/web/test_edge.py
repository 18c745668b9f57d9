"""The ASGI edge on a real Hypercorn: slow bodies time out, one address cannot hold every
connection, webhook ids and URL tokens are refused before the body, headers on every response."""

from __future__ import annotations

import socket
import time
from typing import Any

import anyio
import httpx2
import pytest

import web.server as server
from events.webhooks import WebhookRejected
from runner.app import Runner
from runner.commands.webhooks import for_runner
from tests.web.support import serving
from web.edge import Edge, EdgeLimits
from web.mcp_mount import Message, Receive, Scope, Send

pytestmark = pytest.mark.anyio


def _limits(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> None:
    monkeypatch.setattr(server, "EdgeLimits", lambda **base: EdgeLimits(**{**base, **kw}))


async def _raw(base: str, request: bytes) -> socket.socket:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(request)
    return sock


async def _read_status(sock: socket.socket, deadline: float = 20.0) -> str:
    """The status line, polling without blocking the event loop (the server runs in it)."""
    sock.setblocking(False)
    data = b""
    end = time.monotonic() + deadline
    while b"\r\n" not in data and time.monotonic() < end:
        try:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        except BlockingIOError:
            await anyio.sleep(0.02)
    return data.split(b"\r\n", 1)[0].decode()


def _post(path: str, length: int, body: bytes = b"") -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n")  # fmt: skip
    return head.encode() + body


async def test_a_slow_body_is_cut_off_with_408(runner: Runner, monkeypatch: Any) -> None:
    _limits(monkeypatch, body_timeout=0.5)
    async with serving(runner) as base:
        for path in ("/login", "/api/v1/jobs", "/token"):
            sock = await _raw(base, _post(path, 1000, b"{"))  # 999 bytes never come
            try:
                status = await _read_status(sock)
            finally:
                sock.close()
            assert status.startswith("HTTP/1.1 408"), (path, status)
        async with httpx2.AsyncClient(base_url=base) as http:  # the service is still fine
            assert (await http.get("/healthz")).status_code == 200


async def test_webhook_id_and_url_token_are_refused_before_the_body(
    runner: Runner, monkeypatch: Any
) -> None:
    _limits(monkeypatch, body_timeout=60.0)  # the answer must not wait for the body
    hook, _secret, _ = await for_runner(runner).create(
        {"name": "h", "prompt_template": "p", "scheme": "url_token"}
    )
    async with serving(runner) as base:
        cases = {
            "/hooks/wh_unknown": "404",
            f"/hooks/wh_unknown/{'x' * 43}": "404",
            f"/hooks/{hook.webhook_id}/{'y' * 43}": "401",
            f"/hooks/{hook.webhook_id}": "401",
        }
        for path, want in cases.items():
            sock = await _raw(base, _post(path, 500_000))  # headers only; no body byte sent
            try:
                status = await _read_status(sock, deadline=10.0)
            finally:
                sock.close()
            assert status.split(" ")[1:2] == [want], (path, status)
    rejected = [
        r.event
        for r in await runner.store.read_stream(f"webhook-rejections-{hook.webhook_id}")
        if isinstance(r.event, WebhookRejected)
    ]
    assert rejected and all(e.webhook_id == hook.webhook_id for e in rejected)


async def test_one_address_cannot_hold_every_connection(runner: Runner, monkeypatch: Any) -> None:
    _limits(monkeypatch, per_source=3, body_timeout=30.0)
    async with serving(runner) as base:
        held = [await _raw(base, _post("/login", 1000, b"a")) for _ in range(3)]
        try:
            await anyio.sleep(0.3)  # let the server take them in
            async with httpx2.AsyncClient(base_url=base) as http:
                over = await http.get("/healthz")
                assert over.status_code == 429 and over.headers["Retry-After"]
                for sock in held:
                    sock.close()
                held = []
                deadline = time.monotonic() + 10
                status = 429
                while status == 429 and time.monotonic() < deadline:
                    await anyio.sleep(0.05)
                    status = (await http.get("/healthz")).status_code
                assert status == 200
        finally:
            for sock in held:
                sock.close()


async def test_security_headers_on_mcp_and_oauth_responses(runner: Runner) -> None:
    async with serving(runner) as base, httpx2.AsyncClient(base_url=base) as http:
        for path in ("/.well-known/oauth-authorization-server", "/mcp", "/token", "/healthz",
                     "/api/v1/jobs", "/hooks/wh_none"):  # fmt: skip
            resp = await http.request("POST" if path in ("/token", "/hooks/wh_none") else "GET",
                                      path)  # fmt: skip
            h = resp.headers
            assert h["X-Content-Type-Options"] == "nosniff", path
            assert h["X-Frame-Options"] == "DENY", path
            assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
            assert "Strict-Transport-Security" not in h  # http public URL: no HSTS


async def _run_edge(edge: Edge, scope: Scope, body: bytes = b"") -> list[Message]:
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: Message) -> None:
        sent.append(message)

    await edge(scope, receive, send)
    return sent


async def test_hsts_only_when_the_public_url_is_https() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["body"] == b"hello"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [],
             "client": ("192.0.2.1", 5)}  # fmt: skip
    for hsts in (True, False):
        sent = await _run_edge(Edge(app, EdgeLimits(hsts=hsts)), dict(scope), b"hello")
        names = {bytes(k).lower() for k, _ in sent[0]["headers"]}
        assert (b"strict-transport-security" in names) is hsts
        assert b"x-frame-options" in names and b"content-security-policy" in names


async def test_a_body_over_the_cap_is_413_without_reaching_the_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not be called")

    scope = {"type": "http", "method": "POST", "path": "/x", "client": ("192.0.2.1", 5),
             "headers": [(b"content-length", b"99999")]}  # fmt: skip
    sent = await _run_edge(Edge(app, EdgeLimits(max_body=10)), scope)
    assert sent[0]["status"] == 413
