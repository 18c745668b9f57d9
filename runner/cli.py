"""The ``runner`` command line: serve, jobs, runs, history, audit, settings."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

import anyio

from events.errors import SchemaVersionError, StorageUnavailable, StoreError
from runner.app import Runner
from runner.cli_approvals import add_approval_commands
from runner.cli_jobs import add_job_commands
from runner.cli_log import add_log_commands
from runner.cli_migrate import add_migrate_command
from runner.cli_servers import add_server_commands
from runner.cli_webhooks import add_webhook_commands
from runner.config import load_config
from runner.errors import CommandError
from runner.text import TerminalWriter, escape_terminal

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
    add_migrate_command(sub)
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


def undecodable_argument(argv: Sequence[str]) -> int | None:
    """The 1-based position of the first argument that is not valid UTF-8, or None.

    Python decodes ``argv`` with ``surrogateescape``: bytes that are not UTF-8 become lone
    surrogates, which can be neither stored nor printed.
    """
    for index, arg in enumerate(argv, start=1):
        if any("\udc80" <= ch <= "\udcff" for ch in arg):
            return index
    return None


#: Exit status for a storage fault (disk full, lock held, read-only, I/O error): EX_TEMPFAIL,
#: "try again later", distinct from refusals (1) and configuration errors (2).
EXIT_STORAGE = 75


def storage_error(exc: StorageUnavailable) -> int:
    """Print a storage fault as one line (no traceback) and return ``EXIT_STORAGE``."""
    print(f"error: {exc}; retry in {exc.retry_after} s", file=sys.stderr)
    return EXIT_STORAGE


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    bad = undecodable_argument(argv)
    if bad is not None:
        print(
            f"error: argument {bad} is not valid UTF-8; pass text in UTF-8 "
            "(check the terminal's locale, e.g. LANG=C.UTF-8)",
            file=sys.stderr,
        )
        return 2
    parser = build_parser()
    with contextlib.redirect_stderr(TerminalWriter(sys.stderr)):
        args = parser.parse_args(argv)
    try:
        config = load_config()
    except CommandError as exc:
        print(f"error: {escape_terminal(exc.message)}", file=sys.stderr)
        return 2
    sqlite_only: str | None = getattr(args, "sqlite_only", None)
    if sqlite_only and not config.on_sqlite:
        print(f"error: {sqlite_only}", file=sys.stderr)
        return 2
    runner_fn: Callable[[argparse.Namespace, Any], int] | None = getattr(args, "main", None)
    if runner_fn is not None:  # a command that manages its own lifecycle (serve, mcp, audit)
        try:
            return runner_fn(args, config)
        except StorageUnavailable as exc:
            return storage_error(exc)
        except SchemaVersionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    handler: Handler = args.handler

    async def run() -> int:
        async with Runner.open(config) as runner:
            return await handler(runner, args)

    try:
        with contextlib.redirect_stdout(TerminalWriter(sys.stdout)):
            return anyio.run(run)
    except CommandError as exc:
        where = f" ({escape_terminal(exc.field)})" if exc.field else ""
        print(f"error{where}: {escape_terminal(exc.message)}", file=sys.stderr)
        return 1
    except StorageUnavailable as exc:
        return storage_error(exc)
    except (SchemaVersionError, StoreError) as exc:
        print(f"error: {escape_terminal(exc)}", file=sys.stderr)
        return 2
    except OverflowError:
        print(f"error: a number is out of range (at most {2**63 - 1})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback on the operator's terminal
        print(
            f"error: internal error ({type(exc).__name__}): {escape_terminal(exc)}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
