"""Recognising storage faults in SQLite errors, so they are answered rather than thrown.

SQLite reports a full disk, a held lock, a read-only file system and an I/O error as
``OperationalError`` (and some as ``DatabaseError``) with only a message to tell them apart.
``classify`` turns those into ``StorageUnavailable`` with a stable ``cause``; anything else is
left alone (a bug stays a bug).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from events.errors import StorageUnavailable

_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("disk is full", "disk_full", "the disk holding the database is full; free some space"),
    ("database or disk is full", "disk_full", "the disk is full; free some space"),
    ("database is locked", "locked", "another process holds the database's write lock"),
    ("database table is locked", "locked", "another connection holds a table lock"),
    ("busy", "locked", "another process holds the database's write lock"),
    ("readonly database", "read_only", "the database file or its directory is read-only"),
    ("read-only", "read_only", "the file system holding the database is read-only"),
    ("disk i/o error", "io_error", "the disk reported an I/O error"),
    ("unable to open database", "io_error", "the database file cannot be opened"),
)
_ERRNOS = {
    errno.ENOSPC: ("disk_full", "no space left on the device"),
    errno.EDQUOT: ("disk_full", "the disk quota is exhausted"),
    errno.EROFS: ("read_only", "the file system is read-only"),
    errno.EIO: ("io_error", "the disk reported an I/O error"),
}
RETRY_AFTER = {"locked": 2, "disk_full": 30, "read_only": 30, "io_error": 30}


def classify(exc: BaseException) -> StorageUnavailable | None:
    """The storage fault ``exc`` reports, or None when it is not one."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        cause, detail = _ERRNOS[exc.errno]
        return StorageUnavailable(cause, detail, retry_after=RETRY_AFTER[cause])
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return None
    text = str(exc).lower()
    for needle, cause, detail in _PATTERNS:
        if needle in text:
            return StorageUnavailable(cause, f"{detail} ({exc})", retry_after=RETRY_AFTER[cause])
    return None


def classify_at(exc: BaseException, path: Path) -> StorageUnavailable | None:
    """``classify``, naming a read-only mount when ``path``'s file system is one (SQLite then
    only says it cannot open the file)."""
    fault = classify(exc)
    if fault is not None and fault.cause == "io_error":
        try:
            read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        if read_only:
            return StorageUnavailable(
                "read_only",
                f"the file system holding {path} is mounted read-only ({exc})",
                retry_after=RETRY_AFTER["read_only"],
            )
    return fault


def translate(exc: BaseException) -> BaseException:
    """``exc`` as a ``StorageUnavailable`` when it is a storage fault, else ``exc`` itself."""
    fault = classify(exc)
    return fault if fault is not None else exc
