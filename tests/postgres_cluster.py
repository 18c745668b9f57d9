"""A throwaway PostgreSQL cluster on loopback for tests and benchmarks.

Debian's ``postgresql`` package (installed by ``tests/bootstrap_system.sh``) puts ``initdb`` and
``pg_ctl`` under ``/usr/lib/postgresql/<major>/bin``; they refuse to run as root, so they run as
the package's ``postgres`` user, in a directory under /tmp that user can reach (pytest's
``tmp_path`` is under a 0700 root directory). The whole cluster takes about a second.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import psycopg
import pytest


def pg_bindir() -> str | None:
    """The newest installed server's bin directory, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[-3])
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """Start a cluster on 127.0.0.1 and yield its URL; stop and remove it afterwards.

    ``durable=False`` turns fsync off (tests); benchmarks pass ``durable=True``.
    """
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="pg", dir="/tmp")
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = f"{root}/data"
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        subprocess.run(
            [*as_pg, f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E",
             "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", data, "-l", f"{root}/log", "-w", "-o", opts,
             "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database name replaced."""
    return server_url.rsplit("/", 1)[0] + "/" + name


class Databases:
    """Creates empty databases on one cluster and drops them again."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._made: list[str] = []

    def create(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self._made.append(name)
        return database_url(self.server_url, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self._made:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._made.clear()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One throwaway cluster for the session (import this fixture into a test module)."""
    if pg_bindir() is None:
        pytest.skip("PostgreSQL is not installed (make test installs it)")
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def databases(pg_server: str) -> Iterator[Databases]:
    """Fresh empty databases on the session's cluster, dropped after the test."""
    dbs = Databases(pg_server)
    yield dbs
    dbs.drop_all()
