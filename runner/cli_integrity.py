"""``runner backup|restore|export|erase|chain-accept``: keeping the log safe and lawful."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from events.chain import KEY_FILE, load_key
from runner.app import Runner
from runner.backup import backup, export_lines, restore
from runner.config import Config
from runner.errors import CommandError


def _operator(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        return "operator:" + getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _progress(done: int, total: int) -> None:
    pct = min(99, int(100 * done / total)) if total else 0
    print(f"\rbackup: {pct:3d}% ({done >> 20} of ~{total >> 20} MiB)", end="", file=sys.stderr)


def _fail(exc: CommandError) -> int:
    print(f"error: {exc.message}", file=sys.stderr)
    return 1


def _backup_main(args: argparse.Namespace, config: Config) -> int:
    try:
        key = load_key(config.data_dir / KEY_FILE, create=False)
        tty = sys.stderr.isatty() and not args.quiet
        result = backup(config.db_path, Path(args.path).resolve(), key, _progress if tty else None)
    except CommandError as exc:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        return _fail(exc)
    if sys.stderr.isatty() and not args.quiet:
        print("\rbackup: 100%" + " " * 30, file=sys.stderr)
    print(
        f"backup OK: {result.path} ({result.events} events, {result.bytes} bytes) in "
        f"{result.seconds:.1f} s, verified (both chains, every view) "
        f"in {result.verify_seconds:.1f} s"
    )
    if key is not None:
        print(
            f"keep {config.data_dir / KEY_FILE} (and secret.key) safe too: "
            "the copy's keyed chain needs it"
        )
    return 0


def _restore_main(args: argparse.Namespace, config: Config) -> int:
    try:
        key = load_key(config.data_dir / KEY_FILE, create=False)
        events, aside = restore(Path(args.path).resolve(), config.db_path, key)
    except CommandError as exc:
        return _fail(exc)
    kept = f"; the previous database is kept as {aside}" if aside else ""
    print(f"restore OK: {events} events verified and restored into {config.db_path}{kept}")
    return 0


def _export_main(args: argparse.Namespace, config: Config) -> int:
    if not config.db_path.exists():
        print(f"error: no database at {config.db_path}", file=sys.stderr)
        return 2
    try:
        if args.output:
            with open(args.output, "x", encoding="utf-8") as out:
                n = export_lines(
                    config.db_path, out, after=args.from_position, upto=args.to_position
                )
            print(f"exported {n} events to {args.output}", file=sys.stderr)
        else:
            export_lines(
                config.db_path, sys.stdout, after=args.from_position, upto=args.to_position
            )
    except FileExistsError:
        print(f"error: {args.output} exists; choose a new file", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    except CommandError as exc:
        return _fail(exc)
    return 0


async def _erase(r: Runner, a: argparse.Namespace) -> int:
    result = await r.erasure.erase_run(a.run_id, by=_operator(a.by), reason=a.reason)
    print(json.dumps(result))
    return 0


async def _accept(r: Runner, a: argparse.Namespace) -> int:
    chain = r.store.chain
    if chain.ok:
        print("the hash chain is intact: nothing to accept")
        return 0
    print(f"accepting: {chain.detail}", file=sys.stderr)
    (rec,) = await r.store.accept_chain_break(_operator(a.by), a.reason)
    print(f"accepted by {_operator(a.by)} at position {rec.position}; appends resume")
    return 0


#: What to use instead of a command that works on the SQLite file, when the log is on PostgreSQL.
ON_POSTGRES = {
    "backup": "`runner backup` copies the SQLite file; the log is on PostgreSQL "
    '(RUNNER_DATABASE_URL): back it up with pg_dump (pg_dump -Fc "$RUNNER_DATABASE_URL" '
    "> runner.dump) and keep each node's secret.key",
    "restore": "`runner restore` replaces the SQLite file; the log is on PostgreSQL "
    "(RUNNER_DATABASE_URL): restore a pg_dump with pg_restore into an empty database",
    "export": "`runner export` reads the SQLite file; the log is on PostgreSQL "
    "(RUNNER_DATABASE_URL): use `runner replay` (the same JSON lines, secrets masked)",
    "audit": "`runner audit` rebuilds the views of the SQLite file; the log is on PostgreSQL "
    "(RUNNER_DATABASE_URL): the store checks positions and the hash chain as it appends; "
    "to audit, `runner replay` the log or copy it with pg_dump",
}


def add_integrity_commands(sub: Any) -> None:
    p = sub.add_parser("backup", help="online, verified copy of the log to PATH (never overwrites)")
    p.add_argument("path")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(main=_backup_main, sqlite_only=ON_POSTGRES["backup"])
    p = sub.add_parser("restore", help="replace the log by a verified backup (service stopped)")
    p.add_argument("path")
    p.set_defaults(main=_restore_main, sqlite_only=ON_POSTGRES["restore"])
    p = sub.add_parser("export", help="the log as JSON lines, secrets masked (read-only)")
    p.add_argument("--from", dest="from_position", type=int, default=0, help="after this position")
    p.add_argument("--to", dest="to_position", type=int, help="up to this position")
    p.add_argument("--output", "-o", help="write to this new file instead of stdout")
    p.set_defaults(main=_export_main, sqlite_only=ON_POSTGRES["export"])
    p = sub.add_parser("erase", help="erase a finished run's output and webhook body (recorded)")
    p.add_argument("run_id")
    p.add_argument("--reason", required=True, help="why (recorded in the log)")
    p.add_argument("--by", help="who (default operator:$USER)")
    p.set_defaults(handler=_erase)
    p = sub.add_parser(
        "chain-accept", help="accept a broken hash chain so appends resume (recorded)"
    )
    p.add_argument("--reason", required=True, help="why (recorded in the log)")
    p.add_argument("--by", help="who (default operator:$USER)")
    p.set_defaults(handler=_accept)
