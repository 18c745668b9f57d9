"""Rebuild every view from position 0, verify the hash chain, and diff rebuilt against live views.

Used by ``runner audit``: a tampered or corrupted log is reported with the positions involved,
never silently repaired.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from events.chain import ChainKey, accepted_ranges, info, walk
from events.codec import decode_row
from events.envelope import Recorded
from events.errors import StoreError
from events.integrity import ContentErased
from events.sqlite_schema import EVENT_COLUMNS, ensure_schema
from events.sqlite_views import SQLiteViewWriter
from projections.base import Projection
from projections.projector import ViewProjector, write_changes

PAGE = 5000
FLUSH_EVERY = 50_000


class AuditIssue(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    position: int | None
    detail: str


class AuditReport(msgspec.Struct, kw_only=True):
    events: int = 0
    issues: list[AuditIssue] = []
    #: Breaks an operator accepted (``ChainBreakAccepted``): reported, not failures.
    accepted: list[AuditIssue] = []
    #: "ok", "broken", "no key" (the key file is absent) or "none" (no keyed rows yet).
    keyed: str = "ok"
    plain: str = "ok"
    keyed_from: int = 1
    erased: int = 0
    #: Erased rows written before digest chaining: their plain link is taken as stored.
    unverifiable: list[int] = []

    @property
    def ok(self) -> bool:
        return not self.issues


def iter_rows(conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """Every stored row in position order, in keyset pages."""
    after = 0
    while True:
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (after, PAGE),
        ).fetchall()
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def verify_chain(conn: sqlite3.Connection, key: ChainKey | None = None) -> AuditReport:
    """Check the plain and the keyed chain; report gaps, broken links, version gaps,
    undecodable rows and erasures no ``ContentErased`` event accounts for."""
    report = AuditReport()
    res = walk(conn, key, limit_breaks=100_000)
    ranges = accepted_ranges(conn)
    report.keyed_from = int(info(conn, "v2_from") or 1)
    report.unverifiable = res.unverifiable
    recorded_id = info(conn, "chain_key_id")
    (keyed_rows,) = conn.execute("SELECT count(*) FROM events WHERE mac IS NOT NULL").fetchone()
    if key is None:
        report.keyed = "no key" if keyed_rows or recorded_id else "none"
    elif recorded_id is not None and recorded_id != key.key_id:
        report.keyed = "wrong key"
        report.issues.append(
            AuditIssue(
                kind="key",
                position=None,
                detail=f"the chain key (id {key.key_id}) is not the one this log was written "
                f"with (id {recorded_id})",
            )
        )
    for brk in res.breaks:
        kind = {"plain": "hash", "keyed": "mac"}.get(brk.chain, brk.chain)
        issue = AuditIssue(kind=kind, position=brk.position, detail=brk.detail)
        if any(first <= brk.position <= last for first, last in ranges):
            report.accepted.append(issue)
        else:
            report.issues.append(issue)
            if brk.chain == "plain":
                report.plain = "broken"
            elif brk.chain == "keyed" and report.keyed == "ok":
                report.keyed = "broken"
    versions: dict[str, int] = {}
    claimed: set[int] = set()
    for row in iter_rows(conn):
        position, stream, version = row[0], row[1], row[2]
        report.events += 1
        expected_version = versions.get(stream, -1) + 1
        if version != expected_version:
            report.issues.append(
                AuditIssue(
                    kind="version",
                    position=position,
                    detail=f"stream {stream!r} jumps from v{expected_version - 1} to v{version}",
                )
            )
        versions[stream] = version
        try:
            rec = decode_row(row)
        except (msgspec.DecodeError, msgspec.ValidationError, StoreError) as exc:
            report.issues.append(
                AuditIssue(kind="decode", position=position, detail=f"undecodable event: {exc}")
            )
            continue
        if isinstance(rec.event, ContentErased):
            claimed.update(rec.event.positions)
    erased = [int(p) for (p,) in conn.execute("SELECT position FROM erased ORDER BY position")]
    report.erased = len(erased)
    for pos in erased:
        if pos not in claimed:
            report.issues.append(
                AuditIssue(
                    kind="erased",
                    position=pos,
                    detail=f"position {pos} is marked erased but no ContentErased event names it",
                )
            )
    return report


def decode_all(conn: sqlite3.Connection) -> Iterator[Recorded]:
    for row in iter_rows(conn):
        try:
            yield decode_row(row)
        except (msgspec.DecodeError, msgspec.ValidationError, StoreError):
            continue  # reported by verify_chain


def rebuild_into(
    source: sqlite3.Connection, scratch: sqlite3.Connection, projections: Sequence[Projection]
) -> int:
    """Fold the whole log from position 0 into empty view tables in ``scratch``."""
    ensure_schema(scratch)
    projector = ViewProjector(projections)
    views = SQLiteViewWriter(scratch)
    projector.setup(views)
    count = 0
    pending: dict[tuple[str, str], tuple[Any, int]] = {}
    scratch.execute("BEGIN")
    for rec in decode_all(source):
        count += 1
        for change in projector.folder.apply(rec):
            pending[(change[0], change[1])] = (change[2], rec.position)
        projector.folder.commit()
        if len(pending) >= FLUSH_EVERY:
            write_changes(views, projector.folder.tables, pending)
            pending.clear()
    write_changes(views, projector.folder.tables, pending)
    scratch.execute("COMMIT")
    return count


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def diff_views(
    live: sqlite3.Connection, scratch: sqlite3.Connection, projections: Sequence[Projection]
) -> list[AuditIssue]:
    """Rows whose live content differs from the rebuilt content, with the positions involved."""
    issues: list[AuditIssue] = []
    for proj in projections:
        for table in proj.tables:
            live_rows = {
                k: (pos, _bytes(doc))
                for k, pos, doc in live.execute(f"SELECT k, pos, doc FROM {table.name}")
            }
            for k, pos, doc in scratch.execute(f"SELECT k, pos, doc FROM {table.name}"):
                got = live_rows.pop(k, None)
                if got is None:
                    issues.append(
                        AuditIssue(
                            kind="view-missing",
                            position=pos,
                            detail=f"{table.name}[{k!r}] is missing from the live view "
                            f"(last written by position {pos})",
                        )
                    )
                elif got[1] != _bytes(doc):
                    issues.append(
                        AuditIssue(
                            kind="view-differs",
                            position=pos,
                            detail=f"{table.name}[{k!r}] differs: live written at position "
                            f"{got[0]}, rebuilt from the log at position {pos}",
                        )
                    )
            for k, (pos, _) in live_rows.items():
                issues.append(
                    AuditIssue(
                        kind="view-extra",
                        position=pos,
                        detail=f"{table.name}[{k!r}] exists in the live view (position {pos}) "
                        "but not when rebuilt from the log",
                    )
                )
    return issues


def audit(
    db_path: str | Path,
    projections: Sequence[Projection],
    scratch_path: str | Path,
    key: ChainKey | None = None,
) -> AuditReport:
    """Verify both chains, rebuild every projection into ``scratch_path`` and diff it."""
    live = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        report = verify_chain(live, key)
        Path(scratch_path).unlink(missing_ok=True)
        scratch = sqlite3.connect(str(scratch_path), isolation_level=None)
        try:
            rebuild_into(live, scratch, projections)
            report.issues.extend(diff_views(live, scratch, projections))
        finally:
            scratch.close()
    finally:
        live.close()
    return report
