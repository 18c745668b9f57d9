"""run_web and the PathDispatcher: one port, mounts by path, lifespan fan-out, start failures."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import httpx2
import pytest

import web.server as server
from runner.app import Runner
from tests.web.support import serving
from web.dispatch import PathDispatcher
from web.mcp_mount import Message, Receive, Scope, Send
from web.server import WebStartError, run_web

pytestmark = pytest.mark.anyio


class Mounted:
    """A tiny ASGI app with a lifespan that records what happened to it."""

    def __init__(self, log: list[str], *, fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg: Message = await receive()
                if msg["type"] == "lifespan.startup":
                    self.log.append("mount up")
                    kind = "failed" if self.fail else "complete"
                    await send({"type": f"lifespan.startup.{kind}", "message": "boom"})
                    if self.fail:
                        return
                else:
                    self.log.append("mount down")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": f"mcp {scope['path']}".encode()})


async def test_mounts_share_the_port_and_lifespan(runner: Runner, monkeypatch: Any) -> None:
    log: list[str] = []
    mount = Mounted(log)
    monkeypatch.setattr(
        server, "mcp_mounts", lambda r, s: [(lambda p: p.startswith("/mcp"), mount)]
    )
    async with serving(runner) as base, httpx2.AsyncClient(base_url=base) as http:
        assert log == ["mount up"]
        assert (await http.get("/mcp/x")).text == "mcp /mcp/x"
        login = await http.get("/login")
        assert login.status_code == 200 and "Sign in" in login.text
        assert (await http.get("/hooks/wh_unknown")).status_code in (404, 405)
        assert (await http.get("/api/v1/jobs")).status_code == 401
    assert log == ["mount up", "mount down"]


async def test_a_failing_mount_stops_the_start(runner: Runner, monkeypatch: Any) -> None:
    log: list[str] = []
    monkeypatch.setattr(
        server, "mcp_mounts", lambda r, s: [(lambda p: False, Mounted(log, fail=True))]
    )
    with pytest.raises(BaseException) as info:
        async with serving(runner):
            pass
    assert "boom" in repr(info.value) or "failed to start" in repr(info.value)


async def test_a_taken_port_fails_fast_with_a_clear_message(runner: Runner) -> None:
    import msgspec

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner.config = msgspec.structs.replace(runner.config, host="127.0.0.1", port=port)
        with pytest.raises(BaseException) as info:
            async with anyio.create_task_group() as tg:
                await tg.start(run_web, runner, None)
        errors = [info.value]
        while isinstance(errors[0], BaseExceptionGroup):
            errors = list(errors[0].exceptions)
        assert isinstance(errors[0], WebStartError)
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in str(errors[0])


async def test_dispatcher_without_lifespan_support() -> None:
    calls: list[str] = []

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        calls.append(scope["path"])

    d = PathDispatcher(plain, [(lambda p: p == "/m", plain)])
    sent: list[Message] = []
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(msg: Message) -> None:
        sent.append(msg)

    await d({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    await d({"type": "http", "path": "/m"}, receive, send)
    assert calls == ["/m"]
