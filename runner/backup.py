"""Online backup, verified restore and JSON-lines export of the log.

Backup is ``VACUUM INTO`` from one read transaction: in WAL mode it does not block the writer,
it sees one consistent snapshot, and it finishes in time proportional to the database size
whatever the write load (the step-wise backup API restarts whenever another connection
writes, and under steady appends may never finish; see ``tests/perf/bench_backup.py``).
Every copy is then audited (both chains, every view rebuilt and diffed) before it is kept.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from events.chain import ChainKey, info
from events.codec import decode_row
from events.errors import StoreError
from events.sqlite_schema import EVENT_COLUMNS, STORE_SCHEMA_VERSION
from projections import ALL_PROJECTIONS, AuditReport, audit
from runner.errors import CommandError
from runner.redact import redact_event_data

Progress = Callable[[int, int], None]


class BackupResult(msgspec.Struct, kw_only=True):
    path: str
    events: int
    bytes: int
    seconds: float
    verify_seconds: float


def _explain(exc: BaseException, target: Path) -> str:
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in text:
        return f"the disk holding {target.parent} is full ({text})"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{target.parent} is not writable ({exc.strerror})"
    if "unable to open" in text or "readonly" in text:
        return f"{target} cannot be written ({text}); check the directory exists and is writable"
    return text


def _expected_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def _watch(path: Path, total: int, progress: Progress, done: threading.Event) -> None:
    while not done.wait(0.2):
        with contextlib.suppress(OSError):
            progress(path.stat().st_size, total)


def verify_copy(path: Path, key: ChainKey | None) -> AuditReport:
    """Audit a copy: both chains, and every view rebuilt from its log equals its views."""
    with tempfile.TemporaryDirectory(prefix="runner-verify-") as tmp:
        return audit(path, ALL_PROJECTIONS, Path(tmp) / "scratch.db", key)


def _problems(report: AuditReport) -> str:
    first = report.issues[0]
    return f"{len(report.issues)} problem(s), first at position {first.position}: {first.detail}"


def backup(
    db: Path, target: Path, key: ChainKey | None, progress: Progress | None = None
) -> BackupResult:
    """Copy the live log to ``target`` (0600), consistent while the service writes; verify it."""
    if target.exists():
        raise CommandError(f"{target} exists; choose a new file name (backups never overwrite)")
    if not db.exists():
        raise CommandError(f"no database at {db}")
    tmp = target.with_name(target.name + ".partial")
    started = time.perf_counter()
    src = sqlite3.connect(str(db), isolation_level=None)
    done = threading.Event()
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        total = _expected_bytes(src)
        if progress is not None:
            threading.Thread(target=_watch, args=(tmp, total, progress, done), daemon=True).start()
        tmp.unlink(missing_ok=True)
        old_umask = os.umask(0o077)
        try:
            src.execute("VACUUM INTO ?", (str(tmp),))
        finally:
            os.umask(old_umask)
        os.chmod(tmp, 0o600)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise CommandError(f"backup to {target} failed: {_explain(exc, target)}") from None
    finally:
        done.set()
        src.close()
    copied = time.perf_counter()
    report = verify_copy(tmp, key)
    if not report.ok:
        tmp.unlink(missing_ok=True)
        raise CommandError(f"the copy does not verify, nothing kept: {_problems(report)}")
    os.replace(tmp, target)
    with contextlib.suppress(OSError):  # make the rename durable
        fd = os.open(target.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return BackupResult(
        path=str(target),
        events=report.events,
        bytes=target.stat().st_size,
        seconds=copied - started,
        verify_seconds=time.perf_counter() - copied,
    )


def _schema_of(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            value = info(conn, "schema_version")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"{path} is not a Claude Runner database: {exc}") from None
    if value is None:
        raise CommandError(f"{path} is not a Claude Runner database (no store_info)")
    return int(value)


def _in_use(db: Path) -> bool:
    """True when another connection has the database open (an exclusive lock is refused)."""
    conn = sqlite3.connect(str(db), isolation_level=None, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def restore(source: Path, db: Path, key: ChainKey | None) -> tuple[int, Path | None]:
    """Replace the live log by a verified copy, keeping the old one aside: (events, aside)."""
    if not source.is_file():
        raise CommandError(f"{source} is not a file")
    found = _schema_of(source)
    if found > STORE_SCHEMA_VERSION:
        raise CommandError(
            f"{source} was written by a newer Claude Runner (store schema {found}, this version "
            f"understands up to {STORE_SCHEMA_VERSION}); upgrade before restoring it"
        )
    report = verify_copy(source, key)
    if not report.ok:
        raise CommandError(f"{source} does not verify, refusing to restore: {_problems(report)}")
    if report.keyed == "no key":
        raise CommandError(
            f"{source} is keyed but chain.key is missing here; put the key file beside the "
            "database first"
        )
    if db.exists() and _in_use(db):
        raise CommandError(f"{db} is in use: stop `runner serve` (and other runner commands) first")
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(db.name + ".restoring")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    old_umask = os.umask(0o077)
    try:
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)
        finally:
            dst.close()
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise CommandError(f"restore into {db.parent} failed: {_explain(exc, db)}") from None
    finally:
        os.umask(old_umask)
        src.close()
    os.chmod(tmp, 0o600)
    aside: Path | None = None
    if db.exists():
        aside = db.with_name(f"{db.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(db, aside)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    os.replace(tmp, db)
    return report.events, aside


def export_lines(db: Path, out: IO[str], *, after: int = 0, upto: int | None = None) -> int:
    """The log as JSON lines (secrets masked as ``runner replay`` does); read-only, no lock."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        erased = {p for (p,) in conn.execute("SELECT position FROM erased")}
        count = 0
        for rec in _records(conn, after, upto):
            data: dict[str, Any] = redact_event_data(msgspec.to_builtins(rec.event))
            data.pop("type", None)
            line = {
                "position": rec.position,
                "stream": rec.stream,
                "version": rec.version,
                "type": rec.type,
                "recorded_at": rec.recorded_at.isoformat(timespec="microseconds"),
                "actor": rec.meta.actor,
                "hash": rec.hash,
                "data": data,
            }
            if rec.position in erased:
                line["erased"] = True
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
        return count
    finally:
        conn.close()


def _records(conn: sqlite3.Connection, after: int, upto: int | None) -> Iterator[Any]:
    while True:
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ? "
            "ORDER BY position LIMIT 2000",
            (after, upto if upto is not None else 2**62),
        ).fetchall()
        for row in rows:
            try:
                yield decode_row(row)
            except StoreError as exc:
                raise CommandError(f"export stopped: {exc}") from None
        if len(rows) < 2000:
            return
        after = rows[-1][0]
