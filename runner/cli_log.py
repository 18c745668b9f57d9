"""``runner history STREAM``, ``runner audit`` and ``runner serve``: the log as an instrument."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from events.chain import KEY_FILE, load_key
from projections import ALL_PROJECTIONS, AuditReport, audit
from runner.app import Runner
from runner.config import Config
from runner.redact import redact_event_data
from runner.text import escape_terminal


async def _history(r: Runner, a: argparse.Namespace) -> int:
    records = await r.store.read_stream(a.stream)
    if not records:
        print(f"stream {a.stream!r} has no events (streams look like job-<id>, run-<id>, settings)")
        return 1
    for rec in records:
        data = redact_event_data(msgspec.to_builtins(rec.event))
        data.pop("type", None)
        when = rec.recorded_at.isoformat(timespec="milliseconds")
        if a.json:
            print(
                json.dumps(
                    {
                        "position": rec.position,
                        "version": rec.version,
                        "type": rec.type,
                        "recorded_at": when,
                        "actor": rec.meta.actor,
                        "data": data,
                    }
                )
            )
        else:
            print(
                f"#{rec.position:<8} v{rec.version:<4} {when}  {rec.type:<20} "
                f"by {escape_terminal(rec.meta.actor)}"
            )
            print(f"    {json.dumps(data, ensure_ascii=False)[:2000]}")
    return 0


async def _replay(r: Runner, a: argparse.Namespace) -> int:
    """The global log in order, optionally a window of positions and some event types."""
    types = set(a.type or ())
    shown = 0
    async for rec in r.store.read_all(from_position=a.from_position, to_position=a.to_position):
        if types and rec.type not in types:
            continue
        data = redact_event_data(msgspec.to_builtins(rec.event))
        data.pop("type", None)
        print(
            json.dumps(
                {
                    "position": rec.position,
                    "stream": rec.stream,
                    "version": rec.version,
                    "type": rec.type,
                    "recorded_at": rec.recorded_at.isoformat(timespec="milliseconds"),
                    "actor": rec.meta.actor,
                    "hash": rec.hash,
                    "data": data,
                },
                ensure_ascii=False,
            )
        )
        shown += 1
        if a.limit and shown >= a.limit:
            break
    return 0


def _chains_line(report: AuditReport, key_id: str | None) -> str:
    keyed = {
        "ok": f"keyed chain intact (HMAC from position {report.keyed_from}, key id {key_id})",
        "broken": "keyed chain BROKEN",
        "no key": "keyed chain NOT CHECKED (chain.key missing)",
        "none": "no keyed rows yet",
        "wrong key": "keyed chain NOT CHECKED (wrong chain.key)",
    }.get(report.keyed, report.keyed)
    plain = "plain chain intact" if report.plain == "ok" else "plain chain BROKEN"
    extra = f"; {report.erased} erased row(s)" if report.erased else ""
    if report.unverifiable:
        extra += f" ({len(report.unverifiable)} erased before digest chaining: keyed only)"
    return f"{plain}; {keyed}{extra}"


def _audit_main(args: argparse.Namespace, config: Config) -> int:
    db = config.db_path
    if not db.exists():
        print(f"error: no database at {db}", file=sys.stderr)
        return 2
    try:
        key = load_key(config.data_dir / KEY_FILE, create=False)
        with tempfile.TemporaryDirectory(prefix="runner-audit-") as tmp:
            report = audit(db, ALL_PROJECTIONS, Path(tmp) / "scratch.db", key)
    except (sqlite3.DatabaseError, ValueError) as exc:
        print(f"audit FAILED: the database file cannot be read: {exc}", file=sys.stderr)
        return 1
    chains = _chains_line(report, key.key_id if key else None)
    for issue in report.accepted[:20]:
        print(f"  accepted [{issue.kind}] position {issue.position}: {issue.detail}")
    if report.ok and report.keyed != "no key":
        print(f"audit OK: {report.events} events; {chains}; every view matches a rebuild")
        return 0
    if report.ok:
        print(f"audit INCOMPLETE: {report.events} events; {chains}", file=sys.stderr)
        return 1
    print(
        f"audit FAILED: {len(report.issues)} problem(s) in {report.events} events; {chains}",
        file=sys.stderr,
    )
    for issue in report.issues[:200]:
        where = f"position {issue.position}" if issue.position is not None else "-"
        print(f"  [{issue.kind}] {where}: {escape_terminal(issue.detail)}", file=sys.stderr)
    if len(report.issues) > 200:
        print(f"  ... and {len(report.issues) - 200} more", file=sys.stderr)
    return 1


def add_log_commands(sub: Any) -> None:
    p = sub.add_parser("history", help="a stream's events, readable (secrets masked)")
    p.add_argument("stream", help="e.g. job-<id>, run-<id>, webhook-<id>, settings")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=_history)
    p = sub.add_parser("replay", help="the whole log in order as JSON lines (secrets masked)")
    p.add_argument("--from", dest="from_position", type=int, default=0, help="after this position")
    p.add_argument("--to", dest="to_position", type=int, help="up to this position")
    p.add_argument("--type", action="append", help="only these event types (repeatable)")
    p.add_argument("--limit", type=int, default=0, help="stop after this many events")
    p.set_defaults(handler=_replay)
    p = sub.add_parser(
        "audit", help="verify the hash chain; rebuild every view into a scratch database and diff"
    )
    from runner.cli_integrity import ON_POSTGRES, add_integrity_commands

    p.set_defaults(main=_audit_main, sqlite_only=ON_POSTGRES["audit"])

    add_integrity_commands(sub)
    from runner.serve import serve_main

    p = sub.add_parser("serve", help="run the service: actors, dashboard, API, webhooks, MCP")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(main=serve_main)
