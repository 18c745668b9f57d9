"""The claimer: admits requested runs (concurrency, overlap policy, budget) and claims them.

``RunClaimed`` is appended with the run stream's expected version, so of two claimers — two
processes — exactly one wins a run. With it, atomically, goes a ``ConcurrencySlotTaken`` on the
``claims`` stream at the version of that stream this claimer has seen: a claimer that has not yet
seen another's claim is refused (``ConcurrencyError``) and decides again once it has, so the
global cap holds across processes and nodes. (Ends of runs do not touch ``claims``: a claimer
that has not seen a run end yet only under-admits until it does.) Claimed runs go to the
executor pool through a channel.

Node labels: a run pinned to a label (``RunSpec.node_label``) is claimed only by a claimer whose
node carries the label; the others pass over it without blocking the runs queued behind it. A
claimer that sees no live node (``v_nodes``, from the lease events) carrying the label records
it once on the run (``RunAwaitingNode``); the run stays queued until such a node appears.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream

from events.backend import Backend
from events.envelope import AppendRequest, Meta, Recorded
from events.errors import ConcurrencyError
from events.ids import CLAIMS_STREAM, run_stream
from events.nodes import RunAwaitingNode
from events.runs import (
    ConcurrencySlotTaken,
    RunCancelled,
    RunCancelRequested,
    RunClaimed,
    RunSkipped,
)
from projections.costs import day_of
from projections.jobs import JOBS, JobView
from projections.nodes import NODES, NodeView, carrying, describe
from projections.queries import costs as cost_queries
from projections.queries import nodes as node_queries
from projections.queries import runs as run_queries
from projections.read import get_row, select_rows
from projections.runs import RUNS, RunView
from projections.settings import SETTINGS, Settings, SettingsView, effective

log = logging.getLogger("runner.claimer")
LIFECYCLE = frozenset(
    {
        "RunRequested",
        "RunClaimed",
        "RunStarted",
        "RunCancelRequested",
        "RunSucceeded",
        "RunFailed",
        "RunTimedOut",
        "RunCancelled",
        "RunCrashed",
        "RunSkipped",
        "RunAwaitingNode",
    }
)
LEASES = frozenset({"LeaseAcquired", "LeaseReleased", "LeaseExpired"})
BUSY = frozenset({"claimed", "running"})


def claimable_here(run: RunView, labels: tuple[str, ...] | frozenset[str]) -> bool:
    """May a node carrying ``labels`` claim ``run``? Unpinned runs: any node."""
    label = run.spec.node_label
    return label is None or label in labels


def needs_node_record(run: RunView, nodes: list[NodeView]) -> bool:
    """Should ``RunAwaitingNode`` be recorded for ``run``: pinned, no live node carries its
    label, and not already recorded for that label."""
    label = run.spec.node_label
    return label is not None and run.awaiting_node != label and not carrying(nodes, label)


class Claimer:
    """Owns the queue of requested runs and the view of what is busy, across all processes."""

    def __init__(
        self,
        store: Backend,
        instance: str,
        to_executor: MemoryObjectSendStream[RunView],
        *,
        clock: Callable[[], float] = time.time,
        node: str = "",
        labels: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.instance = instance
        self.node = node
        self.labels = frozenset(labels)
        self.nodes: dict[str, NodeView] = {}
        """The live nodes (by lease stream), from ``v_nodes`` and then the lease events."""
        self.to_executor = to_executor
        self.clock = clock
        self.active: dict[str, RunView] = {}
        self.jobs: dict[str, JobView | None] = {}
        self.settings = Settings()
        self._cancel_sent: set[str] = set()
        self._dirty = anyio.Event()
        self.claims_version = -1
        """The version of the ``claims`` stream whose claims ``active`` already reflects."""

    @property
    def queue_depth(self) -> int:
        return sum(1 for r in self.active.values() if r.state == "requested")

    async def run(self) -> None:
        head = await self.store.head()
        # Before the active runs: a claim after this read makes our first claim conflict.
        self.claims_version = await self.store.stream_version(CLAIMS_STREAM)
        row: SettingsView | None = await get_row(self.store, SETTINGS, "settings")
        self.settings = effective(row.values if row else {})
        self.nodes = {n.lease: n for n in await select_rows(self.store, NODES, node_queries.ALL)}
        for run in await select_rows(self.store, RUNS, run_queries.ACTIVE):
            self.active[run.run_id] = run
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch, head)
            await self._admit_loop()

    async def _watch(self, head: int) -> None:
        async with self.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                if await self._on_event(rec):
                    self._dirty.set()

    async def _on_event(self, rec: Recorded) -> bool:
        if rec.stream == CLAIMS_STREAM:
            # Appended after its RunClaimed, so ``active`` already holds that claim.
            self.claims_version = max(self.claims_version, rec.version)
            return True
        if rec.type in LEASES:
            found: NodeView | None = await get_row(self.store, NODES, rec.stream)
            if found is None:
                self.nodes.pop(rec.stream, None)
            else:
                self.nodes[rec.stream] = found
            return True
        if rec.type in LIFECYCLE:
            run: RunView | None = await get_row(self.store, RUNS, rec.stream.removeprefix("run-"))
            if run is None:
                return False
            if run.state in ("requested", "claimed", "running"):
                self.active[run.run_id] = run
            else:
                self.active.pop(run.run_id, None)
                self._cancel_sent.discard(run.run_id)
            return True
        if rec.type == "SettingsChanged":
            row: SettingsView | None = await get_row(self.store, SETTINGS, "settings")
            self.settings = effective(row.values if row else {})
            return True
        if rec.type.startswith("Job"):
            self.jobs.pop(rec.stream.removeprefix("job-"), None)
            return True
        return False

    async def _job(self, job_id: str) -> JobView | None:
        if job_id not in self.jobs:
            self.jobs[job_id] = await get_row(self.store, JOBS, job_id)
        return self.jobs[job_id]

    async def _admit_loop(self) -> None:
        while True:
            self._dirty = anyio.Event()  # before the pass: a change during it is not lost
            wake = await self._admit()
            with anyio.move_on_after(
                max(0.0, wake - self.clock()) if wake < math.inf else math.inf
            ):
                await self._dirty.wait()

    async def _spent_today(self) -> float:
        day = day_of(int(self.clock() * 1_000_000))
        rows = await self.store.fetch(cost_queries.ESTIMATED_ON, (day,))
        # The relay's count (per call, live) is the authority; the CLI's per-run estimate
        # still covers runs that were not relayed (Bedrock, Vertex).
        metered = await self.store.fetch(cost_queries.CHARGED_ON, (day,))
        return max(float(rows[0][0]), float(metered[0][0]))

    async def _admit(self) -> float:
        """One pass over the queue, oldest first. Returns when to look again (retry delays)."""
        now = self.clock()
        wake = math.inf
        busy = [r for r in self.active.values() if r.state in BUSY]
        for run in [
            r for r in self.active.values() if r.state == "requested" and r.cancel_requested
        ]:
            await self._cancel_queued(run)
        queue = sorted(
            (r for r in self.active.values() if r.state == "requested" and not r.cancel_requested),
            key=lambda r: (r.requested_at_us, r.run_id),
        )
        waiting_jobs: set[str] = set()
        per_job: Counter[str] = Counter()
        per_hook: Counter[str] = Counter()
        full = False
        for run in queue:
            if await self._over_cap(run, per_job, per_hook):
                continue
            if run.not_before is not None and run.not_before > now:
                wake = min(wake, run.not_before)
                continue
            job = await self._job(run.job_id) if run.job_id else None
            if run.job_id and job is None:
                await self._skip(run, "job_deleted", "the job was deleted before this run started")
                continue
            if job is not None:
                job_busy = [r for r in busy if r.job_id == run.job_id]
                policy = job.spec.overlap
                if job_busy and policy == "skip":
                    await self._skip(
                        run, "overlap", f"run {job_busy[0].run_id} of this job is still running"
                    )
                    continue
                if policy == "skip" and run.job_id in waiting_jobs:
                    await self._skip(
                        run, "overlap", "an earlier run of this job is still waiting to start"
                    )
                    continue
                if job_busy and policy == "buffer_one":
                    if run.job_id in waiting_jobs:
                        await self._skip(
                            run, "overlap", "one run of this job is already waiting (buffer one)"
                        )
                    waiting_jobs.add(run.job_id or "")
                    continue
                if job_busy and policy == "cancel_previous":
                    for prev in job_busy:
                        await self._cancel_previous(prev, run)
                    waiting_jobs.add(run.job_id or "")
                    continue
            if not claimable_here(run, self.labels):
                # Another node's run: it does not hold up the runs queued behind it here.
                waiting_jobs.add(run.job_id or "")
                if needs_node_record(run, list(self.nodes.values())):
                    await self._await_node(run)
                continue
            if full or len(busy) >= self.settings.max_concurrent_runs:
                # Queued runs start in order: nothing after this one is claimed in this pass,
                # but the rest are still checked against overlap and the queue caps.
                full = True
                waiting_jobs.add(run.job_id or "")
                continue
            limit = self.settings.daily_budget_usd
            if limit is not None and await self._spent_today() >= limit:
                await self._skip(
                    run, "budget", f"today's spend reached the daily budget of ${limit:g}"
                )
                continue
            claimed = await self._claim(run, len(busy))
            if claimed is None:
                break  # our view of the others' claims is stale (or the run changed): look again
            busy.append(claimed)
        return wake

    async def _over_cap(self, run: RunView, per_job: Counter[str], per_hook: Counter[str]) -> bool:
        """Back-pressure: skip a run queued beyond its job's or webhook's cap (oldest stay)."""
        s = self.settings
        if run.job_id:
            per_job[run.job_id] += 1
            if per_job[run.job_id] > s.max_queued_per_job:
                await self._skip(run, "queue_full",
                                 f"{s.max_queued_per_job} runs of this job are already queued "
                                 "(setting max_queued_per_job)")  # fmt: skip
                return True
        if run.webhook_id:
            per_hook[run.webhook_id] += 1
            if per_hook[run.webhook_id] > s.max_queued_per_webhook:
                await self._skip(run, "queue_full",
                                 f"{s.max_queued_per_webhook} runs of this webhook are already "
                                 "queued (setting max_queued_per_webhook)")  # fmt: skip
                return True
        return False

    async def _claim(self, run: RunView, busy: int) -> RunView | None:
        meta = Meta(actor=f"claimer:{self.instance}")
        try:
            result = await self.store.append_atomic(
                [
                    AppendRequest(
                        stream=run_stream(run.run_id),
                        events=(
                            RunClaimed(run_id=run.run_id, claimer=self.instance, node=self.node),
                        ),
                        expected=run.version,
                        meta=meta,
                    ),
                    AppendRequest(  # last, so a subscriber sees the claim before the version
                        stream=CLAIMS_STREAM,
                        events=(
                            ConcurrencySlotTaken(
                                run_id=run.run_id, claimer=self.instance, busy=busy
                            ),
                        ),
                        expected=self.claims_version,
                        meta=meta,
                    ),
                ]
            )
        except ConcurrencyError as exc:
            if exc.stream == CLAIMS_STREAM:
                return None  # another claimer claimed meanwhile: decide when we have seen it
            fresh: RunView | None = await get_row(self.store, RUNS, run.run_id)
            if fresh is not None:
                self.active[run.run_id] = fresh
            return None  # another claimer won, or it changed (cancelled); look again
        self.claims_version = max(self.claims_version, result[1].last_version)
        # The fold of RunClaimed is known: no need to read the row back before handing it on.
        claimed = msgspec.structs.replace(
            run, state="claimed", claimer=self.instance, node=self.node, version=run.version + 1
        )
        self.active[run.run_id] = claimed
        await self.to_executor.send(claimed)
        return claimed

    async def _await_node(self, run: RunView) -> None:
        """Record once that no live node carries the run's label (it stays queued)."""
        label = run.spec.node_label or ""
        detail = f"no live node carries the label {label!r}; live nodes: " + describe(
            self.nodes.values()
        )
        try:
            await self.store.append(
                run_stream(run.run_id),
                [RunAwaitingNode(run_id=run.run_id, label=label, detail=detail)],
                expected=run.version,
                meta=Meta(actor=f"claimer:{self.instance}"),
            )
        except ConcurrencyError:
            return  # another claimer recorded it, or the run moved on: the watch refreshes it
        log.warning("run %s waits for a node labelled %r: %s", run.run_id, label, detail)
        self.active[run.run_id] = msgspec.structs.replace(
            run, awaiting_node=label, version=run.version + 1
        )

    async def _skip(self, run: RunView, reason: str, detail: str) -> None:
        try:
            await self.store.append(
                run_stream(run.run_id),
                [RunSkipped(run_id=run.run_id, job_id=run.job_id, reason=reason, detail=detail)],  # type: ignore[arg-type]
                expected=run.version,
                meta=Meta(actor=f"claimer:{self.instance}"),
            )
            self.active.pop(run.run_id, None)
        except ConcurrencyError:
            fresh: RunView | None = await get_row(self.store, RUNS, run.run_id)
            if fresh is not None and fresh.state in ("requested", "claimed", "running"):
                self.active[run.run_id] = fresh

    async def _cancel_queued(self, run: RunView) -> None:
        """A cancel requested while queued: the run never starts."""
        try:
            await self.store.append(
                run_stream(run.run_id),
                [RunCancelled(run_id=run.run_id, reason="cancelled before it started")],
                expected=run.version,
                meta=Meta(actor=f"claimer:{self.instance}"),
            )
            self.active.pop(run.run_id, None)
        except ConcurrencyError:
            pass  # it changed meanwhile; the next pass sees the new state

    async def _cancel_previous(self, prev: RunView, new: RunView) -> None:
        if prev.run_id in self._cancel_sent or prev.cancel_requested:
            return
        self._cancel_sent.add(prev.run_id)
        await self.store.append(
            run_stream(prev.run_id),
            [
                RunCancelRequested(
                    run_id=prev.run_id,
                    by=f"claimer:{self.instance}",
                    reason=f"cancel-previous policy: newer run {new.run_id} is waiting",
                )
            ],
            meta=Meta(actor=f"claimer:{self.instance}"),
        )
