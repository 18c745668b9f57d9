"""Node labels in the claimer: a run pinned to a label is claimed only by a node carrying it, it
never holds up the runs queued behind it elsewhere, and "no live node carries it" is recorded
once on the run (``RunAwaitingNode``) instead of the run stalling silently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from actors.claimer import Claimer, claimable_here, needs_node_record
from actors.pool import ExecutorPool
from events.envelope import Meta
from events.leases import LeaseAcquired, LeaseExpired, LeaseReleased
from events.runs import RunSpec
from projections.nodes import NodeView
from projections.runs import RunView
from runner.app import Runner
from tests.actors.test_claimer import FakeExecutor, job, until
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio


def _run(label: str | None, awaiting: str | None = None) -> RunView:
    return RunView(run_id="r", job_id=None, trigger="quick", state="requested",
                   spec=RunSpec(prompt="p", node_label=label), requested_at_us=1,
                   awaiting_node=awaiting)  # fmt: skip


def _node(*labels: str) -> NodeView:
    return NodeView(lease="lease-a", instance="h:1", node="a", labels=labels)


def test_claimable_here_follows_the_label() -> None:
    assert claimable_here(_run(None), ())
    assert claimable_here(_run(None), ("gpu",))
    assert claimable_here(_run("gpu"), ("eu", "gpu"))
    assert not claimable_here(_run("gpu"), ())
    assert not claimable_here(_run("gpu"), ("GPU",))  # labels are exact


def test_the_wait_is_recorded_once_and_only_when_no_live_node_carries_the_label() -> None:
    assert needs_node_record(_run("gpu"), [])
    assert needs_node_record(_run("gpu"), [_node("eu")])
    assert not needs_node_record(_run("gpu"), [_node("gpu")])
    assert not needs_node_record(_run("gpu", awaiting="gpu"), [])
    assert not needs_node_record(_run(None), [])


async def lease(runner: Runner, name: str, *labels: str, release: bool = False) -> None:
    stream = f"lease-test:{name}:1"
    if release:
        await runner.store.append(stream, [LeaseReleased(instance=name)], meta=Meta(actor="t"))
        return
    await runner.store.append(
        stream,
        [LeaseAcquired(instance=name, host="test", boot_id="", pid=1, started_at=1.0,
                       ttl_seconds=20.0, node=name, labels=labels)],
        meta=Meta(actor="t"),
    )  # fmt: skip


@asynccontextmanager
async def nodes(runner: Runner, *labelled: tuple[str, ...]) -> AsyncIterator[FakeExecutor]:
    """One claimer + pool per entry of ``labelled`` (that node's labels), one shared store."""
    fake = FakeExecutor(runner)
    async with anyio.create_task_group() as tg:
        for i, labels in enumerate(labelled):
            send, receive = anyio.create_memory_object_stream[RunView](100)
            claimer = Claimer(runner.store, f"test:{i}", send, node=f"n{i}", labels=labels)
            tg.start_soon(claimer.run)
            tg.start_soon(ExecutorPool(runner.store, fake, receive).run)
        await anyio.sleep(0.05)
        yield fake
        tg.cancel_scope.cancel()


async def test_only_the_labelled_node_claims_and_others_are_not_held_up(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await lease(runner, "n0", "gpu")
        await lease(runner, "n1")
        pinned = await job(runner, overlap="allow", node_label="gpu")
        free = await job(runner, overlap="allow")
        async with nodes(runner, ("gpu",), ()) as fake:
            first = (await runner.runs.request_job(pinned)).run_id
            second = (await runner.runs.request_job(free)).run_id
            claimed = await until(runner, first, "running")
            assert claimed.claimer == "test:0" and claimed.node == "n0"
            await until(runner, second, "running")
            for r in (first, second):
                fake.finish(r)
            await until(runner, first, "succeeded")
            types = [r.type for r in await runner.store.read_stream(f"run-{first}")]
            assert "RunAwaitingNode" not in types


async def test_no_live_node_with_the_label_is_recorded_once_then_a_new_node_claims(
    tmp_path: Path,
) -> None:
    async with open_runner(tmp_path) as runner:
        await lease(runner, "n0")
        await lease(runner, "n1")
        pinned = await job(runner, overlap="allow", node_label="gpu")
        free = await job(runner, overlap="allow")
        async with nodes(runner, (), ()) as fake:
            stuck = (await runner.runs.request_job(pinned)).run_id
            behind = (await runner.runs.request_job(free)).run_id
            await until(runner, behind, "running")  # not held up by the pinned run
            with anyio.fail_after(5):
                while (await runner.queries.run(stuck)).awaiting_node != "gpu":
                    await anyio.sleep(0.02)
            await anyio.sleep(0.3)  # both claimers passed over it several times
            types = [r.type for r in await runner.store.read_stream(f"run-{stuck}")]
            assert types == ["RunRequested", "RunAwaitingNode"]
            waiting = await runner.store.read_stream(f"run-{stuck}")
            assert "no live node carries the label 'gpu'" in waiting[1].event.detail  # type: ignore[union-attr]
            assert (await runner.queries.run(stuck)).state == "requested"
            fake.finish(behind)
        # A node carrying the label joins: it claims the waiting run.
        await lease(runner, "n2", "gpu")
        async with nodes(runner, ("gpu",)) as fake:
            claimed = await until(runner, stuck, "running")
            assert claimed.node == "n0"  # the one claimer here is named n0 and carries gpu
            fake.finish(stuck)
            await until(runner, stuck, "succeeded")


@pytest.mark.parametrize("end", ["released", "expired"])
async def test_an_ended_lease_no_longer_counts_as_a_live_node(tmp_path: Path, end: str) -> None:
    """Fault: the only gpu node stops cleanly, or is killed and its lease expired by another
    process; its pinned work is not claimed by a node without the label, and the wait is
    recorded."""
    async with open_runner(tmp_path) as runner:
        await lease(runner, "gpu-node", "gpu")
        if end == "released":
            await lease(runner, "gpu-node", release=True)
        else:
            await runner.store.append(
                "lease-test:gpu-node:1",
                [LeaseExpired(instance="gpu-node", by="n0", reason="process 1 is gone",
                              last_heartbeat=1.0)],
                meta=Meta(actor="t"),
            )  # fmt: skip
        pinned = await job(runner, node_label="gpu")
        async with nodes(runner, ()):
            run = (await runner.runs.request_job(pinned)).run_id
            with anyio.fail_after(5):
                while (await runner.queries.run(run)).awaiting_node != "gpu":
                    await anyio.sleep(0.02)
            assert (await runner.queries.run(run)).state == "requested"


async def test_a_pinned_webhook_pins_its_runs_and_refuses_a_bad_label(tmp_path: Path) -> None:
    from actors.webhook import WebhookActor
    from runner.commands.webhooks import for_runner
    from runner.errors import InvalidInput
    from tests.actors.test_webhook_actor import run_requests, store_delivery

    async with open_runner(tmp_path) as runner:
        hooks = for_runner(runner)
        with pytest.raises(InvalidInput) as err:
            await hooks.create({"name": "h", "prompt_template": "x", "node_label": "gpu\x1b"})
        assert err.value.field == "node_label"
        hook, _, _ = await hooks.create({"name": "h", "prompt_template": "go",
                                         "scheme": "github", "node_label": "gpu"})  # fmt: skip
        assert hook.spec.node_label == "gpu"
        ev = await store_delivery(runner, hook.webhook_id, 1, "{}")
        assert await WebhookActor(runner.store).handle(ev, causation="t") == ev.run_id
        (req,) = await run_requests(runner)
        assert req.spec.node_label == "gpu"
        updated, _ = await hooks.update(hook.webhook_id, {"node_label": ""})
        assert updated.spec.node_label is None


def test_events_written_before_nodes_had_names_still_decode() -> None:
    from events.codec import decode_event
    from events.leases import LeaseAcquired as Acquired
    from events.runs import RunClaimed

    old = decode_event("LeaseAcquired", b'{"type":"LeaseAcquired","instance":"h:1","host":"h",'
                       b'"boot_id":"","pid":1,"started_at":1.0,"ttl_seconds":20.0}', 1)  # fmt: skip
    assert isinstance(old, Acquired) and old.node == "" and old.labels == ()
    claim = decode_event("RunClaimed", b'{"type":"RunClaimed","run_id":"r","claimer":"h:1"}', 1)
    assert isinstance(claim, RunClaimed) and claim.node == ""
    spec = RunSpec(prompt="p")
    assert spec.node_label is None
