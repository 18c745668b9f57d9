"""``SQLiteEventStore`` against the store contract."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events import EventStore, SQLiteEventStore, Subscription
from events.subscription import CatchUpSubscription
from tests.events.contract import EventStoreContract, OpenStore

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
