"""Owner-only files for the log: the directory 0700, the database, WAL and SHM 0600.

The database is created 0600 before SQLite opens it (SQLite gives the ``-wal`` and ``-shm``
files the mode of the main file), and an existing, wider setup is narrowed at every open.
Narrowing is best effort: a file owned by someone else is left alone (and reported by
``check``), since only its owner may change its mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SUFFIXES = ("", "-wal", "-shm", "-journal")


def secure(db: Path) -> None:
    """Create ``db``'s directory and file owner-only, and narrow any existing wider modes."""
    folder = db.parent
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _narrow(folder, DIR_MODE)
    if not db.exists():  # (a read-only file system raises here: nothing to open then)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    for suffix in SUFFIXES:
        _narrow(db.with_name(db.name + suffix), FILE_MODE)


def _narrow(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
    except OSError:
        pass  # gone, not ours, or a read-only file system: ``check`` reports what stays wide


def check(db: Path) -> list[str]:
    """Paths whose mode is wider than owner-only, as readable lines (empty when all is well)."""
    out: list[str] = []
    targets = [(db.parent, DIR_MODE)] + [(db.with_name(db.name + s), FILE_MODE) for s in SUFFIXES]
    for path, mode in targets:
        with contextlib.suppress(FileNotFoundError):
            current = stat.S_IMODE(path.stat().st_mode)
            if current & ~mode:
                out.append(f"{path} is {current:o}, expected {mode:o}")
    return out
