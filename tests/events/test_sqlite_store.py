"""``SQLiteEventStore`` against the store contract."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import pytest

from events import EventStore, Recorded, SQLiteEventStore, Subscription
from events.sqlite_views import SQLiteViewWriter
from events.subscription import CatchUpSubscription
from events.views import ViewWriter
from tests.events.contract import EventStoreContract
from tests.events.contract_support import OpenStore, assert_log_well_formed, ev, tags
from tests.events.sqlite_helpers import verify_chain

pytestmark = pytest.mark.anyio


def open_sqlite(path: Path) -> contextlib.AbstractAsyncContextManager[SQLiteEventStore]:
    return SQLiteEventStore.open(path, tail_interval=0.005)


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        @contextlib.asynccontextmanager
        async def factory(name: str = "main") -> AsyncIterator[EventStore]:
            async with open_sqlite(tmp_path / f"{name}.db") as store:
                yield store

        return factory

    def lagging_subscribe(self, store: EventStore, from_position: int) -> Subscription:
        assert isinstance(store, SQLiteEventStore)
        return CatchUpSubscription(store.bus, store._read_page, from_position, page=100, buffer=3)

    def assert_lagged(self, sub: Subscription) -> None:
        assert isinstance(sub, CatchUpSubscription)
        assert sub.lag_recoveries > 0


class RecordingProjector:
    """Counts what it is shown; raises on a poison event to play a projection bug."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.foreign: list[int] = []
        self._staged: list[tuple[bool, int]] = []

    def setup(self, conn: ViewWriter) -> None:
        assert isinstance(conn, SQLiteViewWriter)
        conn.execute("CREATE TABLE IF NOT EXISTS seen (position INTEGER PRIMARY KEY)")

    def load(self, conn: ViewWriter) -> None:
        pass

    def apply(self, conn: ViewWriter, records: Sequence[Recorded], *, write: bool) -> None:
        assert isinstance(conn, SQLiteViewWriter)
        for rec in records:
            if tags([rec]) == ["poison"]:
                raise ValueError("projection bug")
            if write:
                conn.execute("INSERT INTO seen (position) VALUES (?)", (rec.position,))
            self._staged.append((write, rec.position))

    def commit(self) -> None:
        for write, position in self._staged:
            (self.written if write else self.foreign).append(position)
        self._staged.clear()

    def rollback(self) -> None:
        self._staged.clear()


async def test_projection_failure_fails_only_its_unit(tmp_path: Path) -> None:
    projector = RecordingProjector()
    async with SQLiteEventStore.open(tmp_path / "log.db", projector=projector) as store:
        outcomes: dict[str, str] = {}

        async def attempt(tag: str) -> None:
            try:
                await store.append(f"s-{tag}", [ev(tag)])
                outcomes[tag] = "ok"
            except ValueError:
                outcomes[tag] = "failed"

        async with anyio.create_task_group() as tg:  # one group commit
            for i in range(20):
                tg.start_soon(attempt, "poison" if i == 7 else f"t{i}")
        assert outcomes.pop("poison") == "failed"
        assert set(outcomes.values()) == {"ok"} and len(outcomes) == 19
        log = [r async for r in store.read_all()]
        assert_log_well_formed(log)
        assert "poison" not in tags(log) and len(log) == 19
        assert projector.written == [r.position for r in log]
        rows = await store.query("SELECT position FROM seen ORDER BY position")
        assert [row["position"] for row in rows] == projector.written


async def test_projector_folds_other_writers_events(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    mine, theirs = RecordingProjector(), RecordingProjector()
    async with (
        SQLiteEventStore.open(db, projector=mine) as one,
        SQLiteEventStore.open(db, projector=theirs) as two,
    ):
        await one.append("a", [ev("1"), ev("2")])
        await two.append("b", [ev("3")])  # two folds 1, 2 (written by one) first
        await one.append("a", [ev("4")])  # one folds 3
    assert mine.written == [1, 2, 4] and mine.foreign == [3]
    assert theirs.written == [3] and theirs.foreign == [1, 2]
    assert verify_chain(db) == 4
