"""The contract every ``EventStore`` implementation keeps.

Subclass ``EventStoreContract`` in a ``test_*.py`` module and provide the ``open_store``
fixture: a callable ``open_store(name="main")`` returning an async context manager that yields
a store. Calls with the same ``name`` (within one test) reach the same log, which starts out
empty; set ``durable = False`` on the subclass when a closed store forgets its log. Override
``lagging_subscribe`` to hand out a subscription whose live buffer is tiny.
"""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import (
    ANY,
    EXISTS,
    NO_STREAM,
    AppendRequest,
    AppendResult,
    ConcurrencyError,
    ExpectedVersion,
    StoreError,
)
from tests.events.contract_subscriptions import SubscriptionContract
from tests.events.contract_support import (
    Model,
    OpenStore,
    append_ops,
    appended,
    assert_log_well_formed,
    collect,
    ev,
    read_all,
    tags,
)

pytestmark = pytest.mark.anyio


class EventStoreContract(SubscriptionContract):
    """Behaviour shared by every ``EventStore``. Needs the ``open_store`` fixture."""

    durable = True

    @pytest.fixture
    def open_store(self) -> OpenStore:
        raise NotImplementedError("provide an open_store fixture")

    # -- appending and reading --------------------------------------------------------------

    async def test_empty_store(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            assert await store.head() == 0
            assert await store.stream_version("nope") == -1
            assert await store.read_stream("nope") == []
            assert await read_all(store) == []

    async def test_append_and_read_in_order(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            r1 = await store.append("s", [ev("a"), ev("b")], expected=NO_STREAM)
            r2 = await store.append("t", [ev("x")])
            r3 = await store.append("s", [ev("c")], expected=1)
            assert (r1.first_version, r1.last_version) == (0, 1)
            assert (r1.first_position, r1.last_position) == (1, 2)
            assert (r2.stream, r2.first_version, r2.first_position) == ("t", 0, 3)
            assert (r3.first_version, r3.last_version, r3.last_position) == (2, 2, 4)
            stream = await store.read_stream("s")
            assert tags(stream) == ["a", "b", "c"]
            assert [r.version for r in stream] == [0, 1, 2]
            assert [r.position for r in stream] == [1, 2, 4]
            assert tags(await store.read_stream("s", from_version=1)) == ["b", "c"]
            log = await read_all(store)
            assert tags(log) == ["a", "b", "x", "c"]
            assert [r.stream for r in log] == ["s", "s", "t", "s"]
            assert all(r.type == "ServiceStopped" for r in log)
            assert log[0].event == ev("a")
            assert await store.stream_version("s") == 2
            assert await store.head() == 4

    async def test_versions_gapless_from_zero(self, open_store: OpenStore) -> None:
        rng = random.Random(7)
        async with open_store() as store:
            expected_version = -1
            for n in range(30):
                size = rng.randint(1, 4)
                res = await store.append(
                    "g", [ev(f"{n}.{i}") for i in range(size)], expected=expected_version
                )
                assert res.first_version == expected_version + 1
                expected_version = res.last_version
                await store.append(f"other-{n % 3}", [ev("noise")])
            stream = await store.read_stream("g")
            assert [r.version for r in stream] == list(range(expected_version + 1))
            assert_log_well_formed(await read_all(store))

    async def test_recorded_metadata(self, open_store: OpenStore) -> None:
        from events import Meta

        async with open_store() as store:
            meta = Meta(actor="alice", correlation_id="c-1", causation_id="k-9")
            await store.append("m", [ev("a")], meta=meta)
            (rec,) = await store.read_stream("m")
            assert rec.meta.actor == "alice"
            assert rec.meta.correlation_id == "c-1"
            assert rec.meta.causation_id == "k-9"
            assert rec.recorded_at_us > 0
            assert rec.recorded_at.tzinfo is not None
            assert len(rec.hash) == 64

    async def test_reopen_keeps_the_log(self, open_store: OpenStore) -> None:
        if not self.durable:
            pytest.skip("the store is not durable")
        async with open_store() as store:
            await store.append("s", [ev("a")], expected=NO_STREAM)
        async with open_store() as again:
            assert tags(await again.read_stream("s")) == ["a"]
            res = await again.append("s", [ev("b")], expected=0)
            assert (res.first_version, res.first_position) == (1, 2)

    # -- optimistic concurrency -------------------------------------------------------------

    @pytest.mark.parametrize(
        ("prior", "expected", "ok"),
        [
            (0, NO_STREAM, True),
            (1, NO_STREAM, False),
            (0, EXISTS, False),
            (2, EXISTS, True),
            (0, ANY, True),
            (3, ANY, True),
            (0, -1, True),
            (0, 0, False),
            (2, 1, True),
            (2, 0, False),
            (2, 2, False),
            (2, 5, False),
        ],
    )
    async def testexpected_versions_version(
        self, open_store: OpenStore, prior: int, expected: ExpectedVersion, ok: bool
    ) -> None:
        async with open_store() as store:
            for i in range(prior):
                await store.append("s", [ev(f"p{i}")])
            head = await store.head()
            if ok:
                res = await store.append("s", [ev("new")], expected=expected)
                assert res.first_version == prior
                assert tags(await store.read_stream("s"))[-1] == "new"
            else:
                with pytest.raises(ConcurrencyError) as info:
                    await store.append("s", [ev("new")], expected=expected)
                assert info.value.stream == "s"
                assert info.value.expected == expected
                assert info.value.actual == prior - 1
                assert "re-read" in str(info.value)
                # A stale append writes nothing, anywhere.
                assert await store.head() == head
                assert await store.stream_version("s") == prior - 1
                assert "new" not in tags(await read_all(store))

    async def test_empty_append_is_refused(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            with pytest.raises(StoreError):
                await store.append("s", [])
            assert await store.head() == 0

    async def test_append_atomic_all_or_nothing(self, open_store: OpenStore) -> None:
        async with open_store() as store:
            await store.append("a", [ev("a0")])
            bad = [
                AppendRequest(stream="b", events=(ev("b0"),), expected=NO_STREAM),
                AppendRequest(stream="a", events=(ev("a1"),), expected=5),  # stale
                AppendRequest(stream="c", events=(ev("c0"),)),
            ]
            with pytest.raises(ConcurrencyError) as info:
                await store.append_atomic(bad)
            assert info.value.stream == "a"
            assert await store.head() == 1
            assert await store.stream_version("b") == -1
            assert await store.stream_version("c") == -1

            good = [
                AppendRequest(stream="b", events=(ev("b0"), ev("b1")), expected=NO_STREAM),
                AppendRequest(stream="a", events=(ev("a1"),), expected=0),
                AppendRequest(stream="b", events=(ev("b2"),), expected=1),  # same unit, later
            ]
            results = await store.append_atomic(good)
            assert [(r.stream, r.first_version, r.last_version) for r in results] == [
                ("b", 0, 1),
                ("a", 1, 1),
                ("b", 2, 2),
            ]
            assert [(r.first_position, r.last_position) for r in results] == [
                (2, 3),
                (4, 4),
                (5, 5),
            ]
            assert tags(await read_all(store)) == ["a0", "b0", "b1", "a1", "b2"]
            # Within a unit, a later request sees the earlier ones: this one is stale.
            with pytest.raises(ConcurrencyError):
                await store.append_atomic(
                    [
                        AppendRequest(stream="d", events=(ev("d0"),), expected=NO_STREAM),
                        AppendRequest(stream="d", events=(ev("d1"),), expected=NO_STREAM),
                    ]
                )
            assert await store.stream_version("d") == -1

    async def test_group_commit_isolates_conflicts(self, open_store: OpenStore) -> None:
        """Many appends at once (one batch): a loser's conflict fails only the loser."""
        async with open_store() as store:
            for i in range(50):
                await store.append(f"known-{i}", [ev("seed")])
            outcomes: dict[str, list[str]] = {"ok": [], "conflict": []}

            async def attempt(stream: str, tag: str, expected: ExpectedVersion) -> None:
                try:
                    await store.append(stream, [ev(tag)], expected=expected)
                except ConcurrencyError:
                    outcomes["conflict"].append(tag)
                else:
                    outcomes["ok"].append(tag)

            async with anyio.create_task_group() as tg:
                for i in range(50):
                    for j in range(3):  # three racers per new stream: exactly one wins
                        tg.start_soon(attempt, f"new-{i}", f"new-{i}/{j}", NO_STREAM)
                    tg.start_soon(attempt, f"known-{i}", f"stale-{i}", 5)  # always stale
                    tg.start_soon(attempt, f"known-{i}", f"fine-{i}", EXISTS)
                    tg.start_soon(attempt, f"free-{i}", f"free-{i}", ANY)
            ok, conflict = outcomes["ok"], outcomes["conflict"]
            assert len(ok) + len(conflict) == 300
            assert len(conflict) == 50 * 2 + 50
            for i in range(50):
                assert f"fine-{i}" in ok and f"free-{i}" in ok and f"stale-{i}" in conflict
                winners = [t for t in ok if t.startswith(f"new-{i}/")]
                assert len(winners) == 1
                assert tags(await store.read_stream(f"new-{i}")) == winners
                assert tags(await store.read_stream(f"known-{i}")) == ["seed", f"fine-{i}"]
            log = await read_all(store)
            assert sorted(tags(log)) == sorted(["seed"] * 50 + ok)
            assert_log_well_formed(log)

    async def test_concurrent_units_never_interleave_or_get_lost(
        self, open_store: OpenStore
    ) -> None:
        """200 tasks append multi-event units to two shared streams at once."""
        async with open_store() as store:
            units: dict[str, list[str]] = {}

            async def writer(w: int) -> None:
                for k in range(3):
                    size = 1 + (w + k) % 4
                    name = f"w{w}k{k}"
                    items = [f"{name}#{i}" for i in range(size)]
                    units[name] = items
                    half = size // 2
                    reqs = [AppendRequest(stream="left", events=tuple(ev(t) for t in items[:half]))]
                    reqs = [r for r in reqs if r.events] + [
                        AppendRequest(stream="right", events=tuple(ev(t) for t in items[half:]))
                    ]
                    await store.append_atomic(reqs)

            async with anyio.create_task_group() as tg:
                for w in range(200):
                    tg.start_soon(writer, w)
            log = await read_all(store)
            assert_log_well_formed(log)
            assert len(log) == sum(len(v) for v in units.values())
            where: dict[str, list[int]] = {}
            for rec in log:
                unit = tags([rec])[0].split("#")[0]
                where.setdefault(unit, []).append(rec.position)
            assert set(where) == set(units)
            for unit, positions in where.items():
                # contiguous, in the order the unit listed them
                assert positions == list(range(positions[0], positions[0] + len(positions)))
                got = [tags([log[p - 1]])[0] for p in positions]
                assert got == units[unit]

    # -- a property: the log equals a simple model ------------------------------------------

    @settings(
        max_examples=25,
        deadline=None,
        # One contract, one subclass per backend: hypothesis sees several executors by design.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(ops=append_ops, concurrent=st.booleans())
    def test_log_matches_model(
        self, open_store: OpenStore, ops: list[tuple[int, ExpectedVersion, int]], concurrent: bool
    ) -> None:
        """Random appends with random expected versions: the stored log equals the model.

        Sequentially the model predicts every outcome. Concurrently (one group commit), the
        successes replayed in commit order must each have been allowed at that point, and the
        log must hold exactly the successful appends.
        """

        self._examples = getattr(self, "_examples", 0) + 1

        async def scenario() -> None:
            async with open_store(f"model-{self._examples}") as store:
                results: list[AppendResult | ConcurrencyError | None] = [None] * len(ops)

                async def run(i: int) -> None:
                    s, exp, n = ops[i]
                    try:
                        results[i] = await store.append(
                            f"s{s}", [ev(f"{i}.{k}") for k in range(n)], expected=exp
                        )
                    except ConcurrencyError as exc:
                        results[i] = exc

                model = Model()
                if concurrent:
                    async with anyio.create_task_group() as tg:
                        for i in range(len(ops)):
                            tg.start_soon(run, i)
                    done = [
                        (r.first_position, i)
                        for i, r in enumerate(results)
                        if isinstance(r, AppendResult)
                    ]
                    for _, i in sorted(done):
                        s, exp, n = ops[i]
                        assert model.allows(f"s{s}", exp)
                        model.append(f"s{s}", [f"{i}.{k}" for k in range(n)])
                else:
                    for i, (s, exp, n) in enumerate(ops):
                        allowed = model.allows(f"s{s}", exp)
                        await run(i)
                        assert appended(results[i]) == allowed, (i, ops[i], results[i])
                        if allowed:
                            model.append(f"s{s}", [f"{i}.{k}" for k in range(n)])
                log = await read_all(store)
                assert [(r.stream, t) for r, t in zip(log, tags(log), strict=True)] == model.log
                assert_log_well_formed(log)
                for name, v in model.versions.items():
                    assert await store.stream_version(name) == v

        anyio.run(scenario)


__all__ = ["EventStoreContract", "Model", "OpenStore", "collect", "ev", "read_all", "tags"]
