"""Opens the right store for a location: a ``postgresql://`` URL or an SQLite file path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from events.backend import Backend
from events.errors import StoreError
from events.views import Projector

SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than an SQLite file."""
    return isinstance(location, str) and location.startswith(SCHEMES)


def check_location(location: str | Path) -> None:
    """Refuse a URL of a database this release cannot use, naming what it accepts."""
    if isinstance(location, str) and "://" in location and not is_database_url(location):
        scheme = location.split("://", 1)[0]
        raise StoreError(
            f"unsupported database URL scheme {scheme!r}: use postgresql://user@host:port/db "
            "(or leave RUNNER_DATABASE_URL unset for the SQLite file under the data directory)"
        )


@asynccontextmanager
async def open_store(
    location: str | Path, *, projector: Projector | None = None, key_path: Path | None = None
) -> AsyncIterator[Backend]:
    """Open the log at ``location`` with ``projector`` keeping its views; close it after.

    ``key_path`` is the chain key file (SQLite default: beside the database; PostgreSQL:
    without one the log has the plain chain only).
    """
    check_location(location)
    if is_database_url(location):
        from events.postgres_store import PostgresEventStore

        async with PostgresEventStore.open(
            str(location), projector=projector, key_path=key_path
        ) as pg:
            yield pg
    else:
        from events.sqlite_store import SQLiteEventStore

        async with SQLiteEventStore.open(location, projector=projector, key_path=key_path) as lite:
            yield lite
