"""``runner serve``'s web component: one Hypercorn server for dashboard, API, hooks and MCP."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any, cast

import anyio
from anyio.abc import TaskStatus
from hypercorn.asyncio import serve
from hypercorn.config import Config as HyperConfig

from runner.app import Runner
from web.app import create_app
from web.dispatch import PathDispatcher
from web.edge import Edge, EdgeLimits
from web.hooks import early_rejection
from web.mcp_mount import ASGIApp, mcp_mounts

log = logging.getLogger("web.server")


class WebStartError(RuntimeError):
    """The web server could not start (port taken, bad host, a mounted app failed)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` now, so a taken port is reported before anything else starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise WebStartError(f"cannot listen on {host}:{port}: unknown host ({exc})")
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        hint = " (is another runner already running?)" if exc.errno == errno.EADDRINUSE else ""
        raise WebStartError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}")
    sock.setblocking(False)
    return sock


def build_asgi(runner: Runner, service: Any) -> tuple[Edge, Any]:
    """The ASGI app of the port (the edge around the dispatcher) and the Quart app behind it."""
    app = create_app(runner, service)
    dispatcher = PathDispatcher(cast(ASGIApp, app), mcp_mounts(runner, service))
    pipeline = app.extensions.get("webhook_ingest")
    limits = EdgeLimits(hsts=(runner.config.public_url or "").startswith("https://"))
    early = early_rejection(pipeline) if pipeline is not None else None
    return Edge(dispatcher, limits, before_body=early), app


async def run_web(
    runner: Runner, service: Any, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Serve until cancelled; ``task_status.started((host, port))`` once accepting requests."""
    cfg = runner.config
    try:
        sock = bind_socket(cfg.host, cfg.port)
    except WebStartError as exc:
        log.error("%s", exc)
        raise
    host, port = sock.getsockname()[:2]
    door = getattr(service, "assistant", None)
    if door is not None:  # assistant turns reach /mcp on this port
        door.listening(host, port)
    dispatcher, app = build_asgi(runner, service)
    ready = anyio.Event()
    stop = anyio.Event()

    async def _ready() -> None:  # runs last in the lifespan startup: every app is up
        ready.set()

    app.before_serving(_ready)

    hc = HyperConfig()
    hc.bind = [f"fd://{sock.detach()}"]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 3.0
    hc.keep_alive_timeout = 30.0

    async def shutdown_trigger() -> None:
        await stop.wait()

    async def serve_it() -> None:
        with anyio.CancelScope(shield=True):
            try:
                await serve(dispatcher, hc, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
            except Exception as exc:
                if not ready.is_set():
                    raise WebStartError(f"the web server failed to start: {exc}") from exc
                raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve_it)
        try:
            await ready.wait()
            url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
            log.info("dashboard, API and webhooks on %s", url)
            task_status.started((host, port))
            await anyio.sleep_forever()
        finally:
            # Also when cancelled before the server was ready (a signal during start-up):
            # without the trigger the shielded server would run on and the process never end.
            app.extensions["claude_runner"].hub.close()  # end SSE streams so shutdown is quick
            stop.set()
