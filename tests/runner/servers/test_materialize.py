from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.servers.errors import InvalidServerName
from runner.servers.materialize import (
    code_path,
    remove_server,
    server_data_dir,
    sync_servers,
    write_server,
)


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_write_update_delete_leaves_no_orphans(tmp_path: Path) -> None:
    path = write_server(tmp_path, "poster", "print(1)\n")
    assert path == code_path(tmp_path, "poster")
    assert path.read_text() == "print(1)\n"
    assert server_data_dir(tmp_path, "poster").is_dir()
    (server_data_dir(tmp_path, "poster") / "state.json").write_text("{}")
    write_server(tmp_path, "poster", "print(2)\n")
    assert path.read_text() == "print(2)\n"
    assert (server_data_dir(tmp_path, "poster") / "state.json").exists()  # data survives updates
    assert files(tmp_path) == {
        "servers",
        "servers/poster",
        "servers/poster/server.py",
        "servers/poster/data",
        "servers/poster/data/state.json",
    }
    assert remove_server(tmp_path, "poster") is True
    assert remove_server(tmp_path, "poster") is False
    assert files(tmp_path) == {"servers"}


def test_failed_first_write_removes_the_folder(tmp_path: Path, monkeypatch) -> None:
    def boom(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_server(tmp_path, "poster", "x = 1\n")
    assert not (tmp_path / "servers" / "poster").exists()


def test_path_tricks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidServerName):
        write_server(tmp_path, "../evil", "x = 1\n")


def test_sync_rebuilds_exactly(tmp_path: Path) -> None:
    write_server(tmp_path, "old", "x = 1\n")
    write_server(tmp_path, "keep", "stale\n")
    (server_data_dir(tmp_path, "keep") / "db").write_text("kept")
    (tmp_path / "servers" / "keep" / ".server.py.abc.tmp").write_text("half")
    (tmp_path / "servers" / "stray.txt").write_text("?")
    sync_servers(tmp_path, {"keep": "fresh\n", "new": "y = 2\n"})
    assert files(tmp_path) == {
        "servers",
        "servers/keep",
        "servers/keep/server.py",
        "servers/keep/data",
        "servers/keep/data/db",
        "servers/new",
        "servers/new/server.py",
        "servers/new/data",
    }
    assert code_path(tmp_path, "keep").read_text() == "fresh\n"
