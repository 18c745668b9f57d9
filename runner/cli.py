"""The ``runner`` command line: serve, jobs, runs, history, audit, settings."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

import anyio

from events.errors import SchemaVersionError, StoreError
from runner.app import Runner
from runner.cli_approvals import add_approval_commands
from runner.cli_jobs import add_job_commands
from runner.cli_log import add_log_commands
from runner.cli_servers import add_server_commands
from runner.cli_webhooks import add_webhook_commands
from runner.config import load_config
from runner.errors import CommandError

Handler = Callable[[Runner, argparse.Namespace], Awaitable[int]]


def _plugins() -> dict[str, Any]:
    """CLI commands contributed by other packages (``web`` adds ``serve`` parts and ``mcp``)."""
    return {ep.name: ep for ep in entry_points(group="claude_runner.cli")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner",
        description="Claude Runner: Claude Code on cron schedules and webhooks, event-sourced.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_job_commands(sub)
    add_log_commands(sub)
    add_server_commands(sub)
    add_webhook_commands(sub)
    add_approval_commands(sub)
    for _name, ep in sorted(_plugins().items()):
        register = ep.load()
        register(sub)
    return parser


def emit(data: Any) -> None:
    """Print a result as indented JSON."""
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except CommandError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    runner_fn: Callable[[argparse.Namespace, Any], int] | None = getattr(args, "main", None)
    if runner_fn is not None:  # a command that manages its own lifecycle (serve, mcp, audit)
        try:
            return runner_fn(args, config)
        except SchemaVersionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    handler: Handler = args.handler

    async def run() -> int:
        async with Runner.open(config) as runner:
            return await handler(runner, args)

    try:
        return anyio.run(run)
    except CommandError as exc:
        where = f" ({exc.field})" if exc.field else ""
        print(f"error{where}: {exc.message}", file=sys.stderr)
        return 1
    except (SchemaVersionError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
