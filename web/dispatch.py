"""One ASGI entry for the port: path predicates pick a mounted app, else the dashboard app.

Paths are passed unchanged (no ``root_path`` rewriting), so a mounted app sees exactly the paths
it registered. The lifespan is fanned out to every app: startup in order (mounts first, then the
dashboard), shutdown in reverse. A child's ``lifespan.startup.failed`` is forwarded only after
every child task has unwound; Hypercorn 0.18 otherwise misses it and starts serving anyway.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from web.mcp_mount import ASGIApp, Message, PathMatcher, Receive, Scope, Send


class _Child:
    """A child app's lifespan conversation, run in its own task through memory streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.supported = True
        to_send, to_recv = anyio.create_memory_object_stream[Message](4)
        from_send, from_recv = anyio.create_memory_object_stream[Message](4)
        self._to_send: MemoryObjectSendStream[Message] = to_send
        self._to_recv: MemoryObjectReceiveStream[Message] = to_recv
        self._from_send: MemoryObjectSendStream[Message] = from_send
        self._from_recv: MemoryObjectReceiveStream[Message] = from_recv

    async def run(self, scope: Scope) -> None:
        async def receive() -> Message:
            try:
                return await self._to_recv.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return {"type": "lifespan.shutdown"}

        try:
            await self.app(scope, receive, self._from_send.send)
        except Exception as exc:  # an app without lifespan support raises on the scope
            try:
                self._from_send.send_nowait({"type": "_error", "message": str(exc)})
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
        finally:
            self._from_send.close()

    async def call(self, message: Message) -> Message:
        """Send one lifespan message and wait for the app's answer."""
        if not self.supported:
            return {"type": message["type"] + ".complete"}
        try:
            await self._to_send.send(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.supported = False
            return {"type": message["type"] + ".complete"}
        try:
            reply = await self._from_recv.receive()
        except anyio.EndOfStream:
            reply = {"type": "_ended"}
        if reply["type"] in ("_error", "_ended") and message["type"] == "lifespan.startup":
            # No lifespan support (ASGI spec: carry on without lifespan events for this app).
            self.supported = False
            return {"type": "lifespan.startup.complete"}
        return reply

    def close(self) -> None:
        self._to_send.close()


class PathDispatcher:
    """Route ``http``/``websocket`` scopes by path; fan the ``lifespan`` scope out to all apps."""

    def __init__(self, default: ASGIApp, mounts: list[tuple[PathMatcher, ASGIApp]]) -> None:
        self.default = default
        self.mounts = list(mounts)

    def app_for(self, path: str) -> ASGIApp:
        for matches, app in self.mounts:
            if matches(path):
                return app
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        await self.app_for(str(scope.get("path", "")))(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        children = [_Child(app) for _, app in self.mounts] + [_Child(self.default)]
        failure: str | None = None
        errors: list[str] = []
        async with anyio.create_task_group() as tg:
            for child in children:
                tg.start_soon(child.run, dict(scope))
            message = await receive()
            if message["type"] != "lifespan.startup":
                for child in children:
                    child.close()
                return
            started: list[_Child] = []
            for child in children:
                reply = await child.call({"type": "lifespan.startup"})
                if reply["type"] != "lifespan.startup.complete":
                    failure = str(reply.get("message") or "a mounted app failed to start")
                    break
                started.append(child)
            if failure is not None:
                for child in reversed(started):
                    await child.call({"type": "lifespan.shutdown"})
                for child in children:
                    child.close()
            else:
                await send({"type": "lifespan.startup.complete"})
                message = await receive()  # lifespan.shutdown
                errors = await _shutdown(children)
                for child in children:
                    child.close()
        if failure is not None:
            await send({"type": "lifespan.startup.failed", "message": failure})
            return
        if errors:
            await send({"type": "lifespan.shutdown.failed", "message": "; ".join(errors)})
        else:
            await send({"type": "lifespan.shutdown.complete"})


async def _shutdown(children: list[_Child]) -> list[str]:
    errors: list[str] = []
    for child in reversed(children):
        reply: dict[str, Any] = dict(await child.call({"type": "lifespan.shutdown"}))
        if reply["type"] == "lifespan.shutdown.failed":
            errors.append(str(reply.get("message", "")))
    return errors
