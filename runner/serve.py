"""``runner serve``: run the service until SIGINT/SIGTERM, then shut down cleanly."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import anyio
import msgspec
from anyio.abc import TaskStatus

from events.errors import StorageUnavailable
from runner.app import Runner
from runner.config import Config
from runner.service import Service

log = logging.getLogger("runner")
#: Upper bound of an orderly shutdown (runs cancelled, stop recorded) after a signal.
SHUTDOWN_SECONDS = 30.0
EXIT_FORCED = 70
EXIT_STORAGE = 75  # as the CLI: storage unavailable, try again later


class _Stop:
    """What a signal stops: the scope being run now (opening the log, then the service)."""

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.services: list[Service] = []
        self.requested = False

    def enter(self, scope: anyio.CancelScope) -> None:
        self.scope = scope
        if self.requested:
            scope.cancel()

    def request(self, name: str, config: Config) -> None:
        log.info("received %s: shutting down", name)
        self.requested = True
        for service in self.services:
            service.pool.note_shutdown(f"the runner is shutting down ({name})")
        _bound_shutdown(config)
        if self.scope is not None:
            self.scope.cancel()


async def _serve(config: Config) -> None:
    stop = _Stop()

    async def listen(*, task_status: TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                stop.request(signal.Signals(signum).name, config)
                return

    async with anyio.create_task_group() as tg:
        # Listen before anything else starts: a signal at any point of start-up ends it.
        await tg.start(listen)
        with anyio.CancelScope() as opening:
            stop.enter(opening)
            async with Runner.open(config) as runner:
                # The service's own scope: cancelling it leaves the log open, so the service
                # (and the web server's start-up, shielded) can still record how it ended.
                with anyio.CancelScope() as serving:
                    stop.enter(serving)
                    async with anyio.create_task_group() as inner:
                        service = Service(runner)
                        stop.services.append(service)
                        await inner.start(service.run)
                        log.info(
                            "Claude Runner is running (data in %s, instance %s)",
                            config.data_dir,
                            service.instance,
                        )
        tg.cancel_scope.cancel()  # stop listening


def _bound_shutdown(config: Config) -> None:
    """If the orderly shutdown hangs, end the process anyway after ``SHUTDOWN_SECONDS``."""

    def force() -> None:
        log.error("shutdown did not finish within %.0f s; exiting now", SHUTDOWN_SECONDS)
        logging.shutdown()
        os._exit(EXIT_FORCED)

    timer = threading.Timer(SHUTDOWN_SECONDS, force)
    timer.daemon = True
    timer.start()


def _terminate_early(signum: int, frame: object) -> None:
    """SIGTERM before the event loop listens (while importing and opening the log)."""
    raise KeyboardInterrupt


def serve_main(args: argparse.Namespace, config: Config) -> int:
    """Entry of ``runner serve``; non-zero when the service could not start."""
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        config = msgspec.structs.replace(config, **overrides)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    signal.signal(signal.SIGTERM, _terminate_early)
    try:
        anyio.run(_serve, config)
    except KeyboardInterrupt:
        log.info("stopped during start-up")
    except Exception as exc:
        log.error("the runner stopped: %s", "; ".join(_reasons(exc)))
        return EXIT_STORAGE if _storage_fault(exc) else 1
    return 0


def _storage_fault(exc: BaseException) -> bool:
    """Did the start fail only because storage is unavailable (try again later: 75)?"""
    if isinstance(exc, BaseExceptionGroup):
        return all(_storage_fault(inner) for inner in exc.exceptions)
    return isinstance(exc, StorageUnavailable)


def _reasons(exc: BaseException) -> list[str]:
    """The leaf errors of a (possibly nested) exception group, as readable lines."""
    if isinstance(exc, BaseExceptionGroup):
        return [r for inner in exc.exceptions for r in _reasons(inner)]
    return [str(exc) or type(exc).__name__]
