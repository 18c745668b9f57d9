"""Dynamic servers on disk: ``<data_dir>/servers/<name>/server.py`` plus a ``data/`` folder.

The files are a projection of ``ServerCreated``/``ServerUpdated``/``ServerDeleted``: writes are
atomic (temp file + rename in the same folder), deletes remove the whole folder, and
:func:`sync_servers` rebuilds the tree from scratch without leaving orphans.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from actors.materializer import ServerFiles
from runner.servers.names import validate_name

SERVERS_DIR = "servers"
CODE_FILE = "server.py"
DATA_SUBDIR = "data"


def server_dir(data_dir: Path, name: str) -> Path:
    """Folder of one dynamic server (the name is validated, so no path tricks)."""
    return Path(data_dir) / SERVERS_DIR / validate_name(name, allow_reserved=True)


def code_path(data_dir: Path, name: str) -> Path:
    """Path of a dynamic server's ``server.py``."""
    return server_dir(data_dir, name) / CODE_FILE


def server_data_dir(data_dir: Path, name: str) -> Path:
    """The server's private ``DATA_DIR`` (kept across code updates, removed on delete)."""
    return server_dir(data_dir, name) / DATA_SUBDIR


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_server(data_dir: Path, name: str, code: str) -> Path:
    """Write (or replace) a server's code atomically and make sure its ``data/`` exists.

    Returns the path of ``server.py``. If the folder is new and the write fails, the folder is
    removed again, so a failure leaves nothing behind.
    """
    folder = server_dir(data_dir, name)
    created = not folder.exists()
    try:
        (folder / DATA_SUBDIR).mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / CODE_FILE
        _atomic_write(path, code)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def remove_server(data_dir: Path, name: str) -> bool:
    """Delete a server's folder (code and data). Returns whether anything was there."""
    folder = server_dir(data_dir, name)
    if not folder.exists():
        return False
    # Rename first so a crash mid-delete never leaves a half-deleted server under its name.
    doomed = folder.with_name(f".deleted-{folder.name}-{os.getpid()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def sync_servers(data_dir: Path, servers: Mapping[str, str]) -> None:
    """Make ``<data_dir>/servers`` hold exactly ``servers`` (name -> code).

    Code is rewritten only where it differs; folders of unknown names and stray temp files
    are removed; ``data/`` folders of surviving servers are kept.
    """
    root = Path(data_dir) / SERVERS_DIR
    root.mkdir(parents=True, exist_ok=True)
    for name, code in servers.items():
        path = code_path(data_dir, name)
        try:
            current = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            current = None
        if current != code or not (path.parent / DATA_SUBDIR).is_dir():
            write_server(data_dir, name, code)
    for entry in root.iterdir():
        if entry.name in servers and entry.is_dir():
            for stray in entry.glob(f".{CODE_FILE}.*.tmp"):
                stray.unlink(missing_ok=True)
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def server_files(root: Path) -> ServerFiles:
    """The file operations the materializer actor applies under ``root/servers``."""

    def write(name: str, code: str) -> None:
        try:
            if code_path(root, name).read_text(encoding="utf-8") == code:
                return  # unchanged: keep the file (and its mtime)
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        write_server(root, name, code)

    return ServerFiles(
        sync=lambda servers: sync_servers(root, servers),
        write=write,
        remove=lambda name: remove_server(root, name),
    )
