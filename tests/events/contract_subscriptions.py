"""The ``EventStore`` contract, part two: ``read_all`` and subscriptions (catch-up then live,
lag recovery, closing). Mixed into ``EventStoreContract`` (``contract.py``), which documents the
``open_store`` fixture; override ``lagging_subscribe`` to hand out a tiny live buffer.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from events import (
    AppendRequest,
    EventStore,
    Recorded,
    Subscription,
)
from tests.events.contract_support import (
    OpenStore,
    collect,
    drain,
    ev,
    read_all,
    tags,
)

pytestmark = pytest.mark.anyio


class SubscriptionContract:
    """read_all and subscriptions: catch-up then live, lag recovery, closing."""

    def lagging_subscribe(self, store: EventStore, from_position: int) -> Subscription:
        """A subscription whose live buffer holds only a couple of events."""
        return store.subscribe(from_position=from_position)

    def assert_lagged(self, sub: Subscription) -> None:
        """Check that ``lagging_subscribe``'s subscription really was cut off at least once."""

    # -- read_all ---------------------------------------------------------------------------

    async def test_read_all_positions(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            for i in range(2500):  # several pages
                if i % 500 == 0:
                    await store.append_atomic(
                        [
                            AppendRequest(
                                stream=f"s{i}", events=tuple(ev(str(i + j)) for j in range(500))
                            )
                        ]
                    )
            assert await store.head() == 2500
            everything = await read_all(store)
            assert [r.position for r in everything] == list(range(1, 2501))
            assert tags(everything) == [str(i) for i in range(2500)]
            part = await read_all(store, from_position=1200)
            assert [r.position for r in part] == list(range(1201, 2501))
            window = await read_all(store, from_position=10, to_position=1010)
            assert [r.position for r in window] == list(range(11, 1011))
            assert await read_all(store, from_position=2500) == []
            assert await read_all(store, from_position=5, to_position=5) == []

    # -- subscriptions ----------------------------------------------------------------------

    async def test_subscription_catch_up_then_live_under_load(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            for i in range(40):
                await store.append_atomic(
                    [AppendRequest(stream=f"pre-{i}", events=tuple(ev("pre") for _ in range(50)))]
                )
            writers, per_writer = 20, 60
            total = 2000 + writers * per_writer
            seen: dict[str, list[int]] = {}
            started = anyio.Event()

            async def writer(w: int) -> None:
                for k in range(per_writer):
                    await store.append(f"live-{w}", [ev(f"{w}.{k}")], expected=k - 1)
                    if k == 5:
                        started.set()
                    if k % 10 == 0:
                        await anyio.lowlevel.checkpoint()

            async def subscriber(name: str, from_position: int) -> None:
                async with store.subscribe(from_position=from_position) as sub:
                    recs = await collect(sub, total)
                seen[name] = [r.position for r in recs]

            async with anyio.create_task_group() as tg:
                for w in range(writers):
                    tg.start_soon(writer, w)
                await started.wait()  # subscribe while the writers are running
                tg.start_soon(subscriber, "from-0", 0)
                tg.start_soon(subscriber, "from-1500", 1500)
                await anyio.sleep(0.01)
                tg.start_soon(subscriber, "late", 0)
            assert seen["from-0"] == list(range(1, total + 1))
            assert seen["late"] == list(range(1, total + 1))
            assert seen["from-1500"] == list(range(1501, total + 1))
            # and the events are the stored ones
            async with store.subscribe(from_position=total - 3) as sub:
                tail = await collect(sub, total)
            assert tail == (await read_all(store))[-3:]

    async def test_subscription_then_live_only(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            await store.append("s", [ev("old")])
            async with store.subscribe(from_position=await store.head()) as sub:

                async def later() -> None:
                    await anyio.sleep(0.02)
                    await store.append("s", [ev("new")])

                async with anyio.create_task_group() as tg:
                    tg.start_soon(later)
                    recs = await collect(sub, 2)
            assert tags(recs) == ["new"]
            assert sub.position == 2

    async def test_lagging_subscriber_sees_every_event(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            total = 1500
            sub = self.lagging_subscribe(store, 0)
            got: list[int] = []

            async def writer(w: int) -> None:
                for k in range(total // 10):
                    await store.append(f"w{w}", [ev(f"{w}.{k}")])

            async def slow_reader() -> None:
                with anyio.fail_after(60):
                    async for rec in sub:
                        got.append(rec.position)
                        if len(got) % 50 == 0:
                            await anyio.sleep(0.005)  # fall behind on purpose
                        if rec.position >= total:
                            break

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_reader)
                await anyio.lowlevel.checkpoint()
                for w in range(10):
                    tg.start_soon(writer, w)
            await sub.aclose()
            assert got == list(range(1, total + 1))
            self.assert_lagged(sub)

    async def test_subscription_closes_with_the_store(self, open_store: OpenStore) -> None:
        got: list[Recorded] = []
        async with open_store() as store:
            await store.append("s", [ev("a")])
            sub = store.subscribe()
            got.append(await sub.__anext__())
        # After the store closed the subscription ends instead of hanging.
        with anyio.fail_after(5):
            rest = [r async for r in drain(sub)]
        assert [r.position for r in got] == [1]
        assert rest == []
