"""Rebuild every view from position 0, verify the hash chain, and diff rebuilt against live views.

Used by ``runner audit``: a tampered or corrupted log is reported with the positions involved,
never silently repaired.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from events.codec import GENESIS_HASH, chain_hash, decode_row
from events.envelope import Recorded
from events.errors import StoreError
from events.sqlite_schema import EVENT_COLUMNS, ensure_schema
from projections.base import Projection
from projections.sqlite_projector import SQLiteProjector, write_changes

PAGE = 5000
FLUSH_EVERY = 50_000


class AuditIssue(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    position: int | None
    detail: str


class AuditReport(msgspec.Struct, kw_only=True):
    events: int = 0
    issues: list[AuditIssue] = []

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


def verify_chain(conn: sqlite3.Connection) -> AuditReport:
    """Recompute every hash; report gaps, broken links, version gaps, undecodable rows."""
    return verify_rows(iter_rows(conn))


def verify_rows(rows: Iterable[tuple[Any, ...]]) -> AuditReport:
    """``verify_chain`` over stored rows from any backend, in position order."""
    report = AuditReport()
    prev_hash, expected_pos = GENESIS_HASH, 1
    versions: dict[str, int] = {}
    for row in rows:
        position, stream, version, type_, data, meta, recorded_at, stored = row
        report.events += 1
        if position != expected_pos:
            report.issues.append(
                AuditIssue(
                    kind="gap",
                    position=expected_pos,
                    detail=f"positions {expected_pos}..{position - 1} are missing",
                )
            )
        data_b = data if isinstance(data, bytes) else str(data).encode()
        meta_b = meta if isinstance(meta, bytes) else str(meta).encode()
        computed = chain_hash(
            prev_hash, position, stream, version, type_, data_b, meta_b, recorded_at
        )
        if computed != stored:
            report.issues.append(
                AuditIssue(
                    kind="hash",
                    position=position,
                    detail=(
                        f"hash mismatch at position {position} (stream {stream!r} v{version}, "
                        f"{type_}): the row was changed, or the row before it was removed"
                    ),
                )
            )
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
            decode_row(row)
        except (msgspec.DecodeError, msgspec.ValidationError, StoreError) as exc:
            report.issues.append(
                AuditIssue(kind="decode", position=position, detail=f"undecodable event: {exc}")
            )
        prev_hash, expected_pos = stored, position + 1
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
    projector = SQLiteProjector(projections)
    projector.setup(scratch)
    count = 0
    pending: dict[tuple[str, str], tuple[Any, int]] = {}
    scratch.execute("BEGIN")
    for rec in decode_all(source):
        count += 1
        for change in projector.folder.apply(rec):
            pending[(change[0], change[1])] = (change[2], rec.position)
        projector.folder.commit()
        if len(pending) >= FLUSH_EVERY:
            write_changes(scratch, projector.folder.tables, pending)
            pending.clear()
    write_changes(scratch, projector.folder.tables, pending)
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
    db_path: str | Path, projections: Sequence[Projection], scratch_path: str | Path
) -> AuditReport:
    """Verify the chain, rebuild every projection into ``scratch_path`` and diff it."""
    live = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        report = verify_chain(live)
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
