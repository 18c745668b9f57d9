"""``runner migrate --to URL``: move the embedded log to another backend."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from events.chain import KEY_FILE, load_key
from events.errors import StoreError
from runner.config import Config
from runner.errors import CommandError


def _progress(done: int, total: int) -> None:
    print(f"\rcopied {done:,} of {total:,} events", end="", file=sys.stderr, flush=True)


def _migrate_main(args: argparse.Namespace, config: Config) -> int:
    url: str = args.to
    if not url.startswith(("postgresql://", "postgres://")):
        print("error: --to takes a postgresql://user@host:port/database URL", file=sys.stderr)
        return 2
    try:
        key = load_key(config.data_dir / KEY_FILE, create=False)
        from runner.migrate import migrate_to_postgres  # psycopg: only for this command

        report = migrate_to_postgres(
            config.db_path, url, key=key, progress=_progress if sys.stderr.isatty() else None
        )
    except CommandError as exc:
        print(f"\nerror: {exc.message}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"copied {report.events:,} events in {report.seconds:.1f} s; chain verified on SQLite "
        f"({report.source.events:,} events) and on PostgreSQL ({report.target.events:,} events; "
        f"keyed chain: {report.target.keyed}); head hash {report.head_hash[:16]}…"
    )
    if not report.ok:
        for issue in report.target.issues[:10]:
            print(f"  PostgreSQL: {issue.kind} at {issue.position}: {issue.detail}")
        print("error: the copy does not verify", file=sys.stderr)
        return 1
    return 0


def add_migrate_command(sub: Any) -> None:
    p = sub.add_parser(
        "migrate", help="copy the SQLite event log to PostgreSQL, verifying the chain both sides"
    )
    p.add_argument("--to", required=True, help="postgresql://user@host:port/database (empty)")
    p.set_defaults(main=_migrate_main)
