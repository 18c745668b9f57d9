"""``runner serve``: run the service until SIGINT/SIGTERM, then shut down cleanly."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio
import msgspec

from runner.app import Runner
from runner.config import Config
from runner.service import Service

log = logging.getLogger("runner")


async def _serve(config: Config) -> None:
    async with Runner.open(config) as runner, anyio.create_task_group() as tg:
        service = Service(runner)

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    log.info("received %s: shutting down", name)
                    service.pool.note_shutdown(f"the runner is shutting down ({name})")
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        await tg.start(service.run)
        log.info(
            "Claude Runner is running (data in %s, instance %s)", config.data_dir, service.instance
        )


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
    try:
        anyio.run(_serve, config)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        log.error("the runner stopped: %s", "; ".join(_reasons(exc)))
        return 1
    return 0


def _reasons(exc: BaseException) -> list[str]:
    """The leaf errors of a (possibly nested) exception group, as readable lines."""
    if isinstance(exc, BaseExceptionGroup):
        return [r for inner in exc.exceptions for r in _reasons(inner)]
    return [str(exc) or type(exc).__name__]
