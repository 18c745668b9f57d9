"""Hypercorn on a loopback port for the relay (its own port: never the dashboard's)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus
from hypercorn.asyncio import serve
from hypercorn.config import Config as HyperConfig

log = logging.getLogger("runner.relay")


def _unix_listener(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    usock.bind(str(path))
    os.chmod(path, 0o600)  # (keep its directory private too: the mode alone is not enough)
    usock.listen(1024)
    usock.setblocking(False)
    return usock


async def serve_loopback(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    unix_path: Path | None = None,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled; ``started(port)`` once listening. With ``unix_path`` the
    relay also listens on that unix socket (0600), for a sandbox without the host's loopback:
    the launcher can bind it into the sandbox and forward a local port to it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    bound = int(sock.getsockname()[1])
    hc = HyperConfig()
    hc.bind = [f"fd://{sock.detach()}"]
    if unix_path is not None:
        hc.bind.append(f"fd://{_unix_listener(unix_path).detach()}")
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 1.0
    hc.keep_alive_timeout = 75.0  # the CLI keeps its connection between turns
    hc.h11_max_incomplete_size = 64 * 1024
    stop = anyio.Event()

    async def shutdown_trigger() -> None:
        await stop.wait()

    async with anyio.create_task_group() as tg:

        async def serve_it() -> None:
            with anyio.CancelScope(shield=True):
                await serve(app, hc, shutdown_trigger=shutdown_trigger)

        tg.start_soon(serve_it)
        task_status.started(bound)
        try:
            await anyio.sleep_forever()
        finally:
            stop.set()
