"""The running service: recovery, then the actors under the supervisor, then the components.

``runner serve`` calls ``run_service``; components contributed by other packages (the web
server) are found through the ``claude_runner.components`` entry point group, so this package
never imports them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from actors.approval_recovery import requeue_waiting
from actors.assistant_grants import AssistantDoor
from actors.chain_watch import ChainWatch
from actors.claimer import Claimer
from actors.executor import Executor, RunContext
from actors.executor_options import ExecutorSettings, SandboxMode, auth_mode, find_cli
from actors.executor_sandbox import sandbox_health
from actors.leases import LeaseKeeper
from actors.materializer import Materializer
from actors.pool import ExecutorPool
from actors.recovery import instance_id
from actors.relay import Relay, relay_settings
from actors.retention import Retention
from actors.retrier import Retrier
from actors.sandbox.processes import ensure_run_processes_gone, remove_stale_workspaces
from actors.scheduler import Scheduler
from actors.supervisor import ActorSpec, Health, supervise
from actors.webhook import WebhookActor
from events.envelope import Meta
from events.system import ServiceStarted, ServiceStopped
from projections.runs import RunView
from runner.app import Runner
from runner.approval_notify import ApprovalNotifier
from runner.assistant_turns import AssistantTurns
from runner.servers.resolver import RunnerResolver, job_scope

log = logging.getLogger("runner.service")
VERSION = "0.1.0"
Component = Callable[..., Coroutine[Any, Any, None]]


def executor_settings(runner: Runner) -> ExecutorSettings:
    c = runner.config
    return ExecutorSettings(
        data_dir=c.data_dir,
        auth_env=dict(c.auth_env),
        host_claude_config_dir=c.claude_config_dir,
        cli_path=Path(c.cli_path) if c.cli_path else None,
        max_api_retries=c.max_api_retries,
    )


class Service:
    """Everything ``runner serve`` runs, with the handles the dashboard needs for health."""

    def __init__(self, runner: Runner, *, executor: Executor | None = None) -> None:
        self.runner = runner
        self.instance = instance_id()
        self.health = Health(self.instance)
        self.resolver = RunnerResolver(runner.servers)
        self.sandbox_mode: SandboxMode = "auto"
        """The sandbox mode last read from the settings (for the health panel)."""
        c = runner.config
        self.relay = Relay(
            runner.store,
            relay_settings(
                c.auth_env,
                c.claude_config_dir,
                max_concurrent=c.relay_max_concurrent,
                scrub_environ=True,
            ),
        )
        self.assistant = AssistantDoor()
        """The runner's own MCP endpoint for assistant turns (the web server says where)."""
        self.executor = executor or Executor(
            runner.store,
            executor_settings(runner),
            resolver=self.resolver,
            sandbox_mode=self.read_sandbox_mode,
            relay=self.relay,
            assistant=self.assistant,
        )
        self.materializer = Materializer(
            runner.store,
            runner.servers.files(),
            runner.servers.discover,
            on_ready=lambda on: setattr(runner.servers, "auto_discovery", on),
        )
        send, receive = anyio.create_memory_object_stream[RunView](1000)
        self.scheduler = Scheduler(runner.store)
        self.claimer = Claimer(
            runner.store, self.instance, send, node=c.node_name, labels=c.node_labels
        )
        self.pool = ExecutorPool(
            runner.store, self._execute, receive, on_cancel=self.executor.note_cancel
        )
        self.retrier = Retrier(runner.store)
        self.webhooks = WebhookActor(runner.store)
        self.retention = Retention(runner.store)
        self.chain_watch = ChainWatch(runner.store)
        self.leases = LeaseKeeper(
            runner.store,
            self.instance,
            self.health,
            on_lost=self._lease_lost,
            confirm_gone=self._confirm_gone,
            node=c.node_name,
            labels=c.node_labels,
        )
        self.notifier = ApprovalNotifier(runner)
        self.turns = AssistantTurns(runner)

    async def _lease_lost(self, why: str) -> None:
        # Another process recovered our runs: running them on would run a slot twice.
        self.pool.cancel_all(why)

    async def _confirm_gone(self, run: RunView) -> str | None:
        """Before a dead process's run is crashed (and retried): no process of it may still act.
        Returns how that is known, or None to keep the run for a later sweep."""
        data_dir = self.executor.settings.data_dir
        note = await anyio.to_thread.run_sync(ensure_run_processes_gone, data_dir, run.run_id)
        return None if "still alive" in note else note

    async def _execute(self, run: RunView) -> None:
        with job_scope(run.job_id, run.run_id):  # per-job server data (memory)
            await self.executor.execute(
                RunContext(run_id=run.run_id, job_id=run.job_id, spec=run.spec, attempt=run.attempt)
            )

    async def read_sandbox_mode(self) -> SandboxMode:
        """The live ``sandbox_mode`` setting (the executor reads it per run)."""
        self.sandbox_mode = (await self.runner.queries.settings()).sandbox_mode
        return self.sandbox_mode

    def status(self) -> dict[str, Any]:
        """Health facts for the dashboard and ``get_health``."""
        s = self.executor.settings
        cli = find_cli(s)
        return {
            **self.health.snapshot(),
            "queue_depth": self.claimer.queue_depth,
            "running_here": self.pool.running,
            "cli": {"found": cli is not None, "path": str(cli) if cli else None},
            "auth": auth_mode(s),
            "sandbox": sandbox_health(s, self.sandbox_mode),
            "database": self.runner.database_status(),
            "relay": self.relay.status(),
            "chain": chain_health(self.runner),
            "lease": self.leases.snapshot(),
            "node": {"name": self.leases.node, "labels": list(self.leases.labels)},
            "broken_jobs": [
                {"job_id": j.job_id, "name": j.spec.name, "error": j.schedule_error}
                for j in self.scheduler.jobs.values()
                if j.schedule_error
            ],
        }

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        store = self.runner.store
        if not store.chain.ok:
            await self._run_read_only(task_status)
            return
        await store.append(
            "service",
            [ServiceStarted(instance=self.instance, pid=os.getpid(), version=VERSION)],
            meta=Meta(actor="service"),
        )
        try:
            await self._run(task_status)
        finally:
            # Also when a signal arrives half-way through start-up: the stop is recorded and
            # the lease released, so no other process has to wait for it to expire.
            with anyio.CancelScope(shield=True):
                self.pool.cancel_all("the runner is shutting down")
                await store.append(
                    "service",
                    [ServiceStopped(instance=self.instance, reason="shutdown")],
                    meta=Meta(actor="service"),
                )
                await self.leases.release()

    async def _run(self, task_status: TaskStatus[None]) -> None:
        store = self.runner.store
        await self.read_sandbox_mode()
        head = await store.head()
        self.retrier.from_position = head
        self.notifier.from_position = head
        self.turns.from_position = head
        # Before the leases crash orphaned runs: a run waiting for approval is asked again.
        requeued = await requeue_waiting(store, self.instance)
        crashed = await self.leases.start()
        data_dir = self.executor.settings.data_dir
        active = [r.run_id for r in await self.runner.queries.active_runs()]
        remove_stale_workspaces(data_dir, active)
        seeded = await self.runner.servers.seed_builtins(actor="service")
        if seeded:
            log.info("registered built-in tool servers: %s", ", ".join(seeded))
        if requeued:
            log.warning("re-requested %d run(s) that waited for approval", len(requeued))
        if crashed:
            log.warning("marked %d orphaned run(s) crashed: %s", len(crashed), ", ".join(crashed))
        actors = [
            ActorSpec("scheduler", self.scheduler.run),
            ActorSpec("claimer", self.claimer.run),
            ActorSpec("executor", self.pool.run),
            ActorSpec("retrier", self.retrier.run),
            ActorSpec("webhook", self.webhooks.run),
            ActorSpec("materializer", self.materializer.run),
            ActorSpec("retention", self.retention.run),
            ActorSpec("chain", self.chain_watch.run),
            ActorSpec("leases", self.leases.run),
            ActorSpec("approval_notifier", self.notifier.run),
            ActorSpec("assistant_turns", self.turns.run),
        ]
        async with anyio.create_task_group() as tg:
            await tg.start(self.relay.run)  # before the executor: runs need its port
            await tg.start(supervise, actors, store, self.health)
            for name, component in sorted(load_components().items()):
                log.info("starting component %s", name)
                await tg.start(component, self.runner, self)
            task_status.started()

    async def _run_read_only(self, task_status: TaskStatus[None]) -> None:
        """A broken chain: serve reads (dashboard, API, MCP) but start no actor, append nothing."""
        log.error("READ-ONLY: %s", self.runner.store.chain.detail)
        async with anyio.create_task_group() as tg:
            for _name, component in sorted(load_components().items()):
                await tg.start(component, self.runner, self)
            task_status.started()


def chain_health(runner: Runner) -> dict[str, Any]:
    """The chain as verified at start: green, or red with the position and what to do."""
    c = runner.store.chain
    return {
        "ok": c.ok,
        "status": "green" if c.ok else "red",
        "read_only": not c.ok,
        "position": c.position,
        "detail": c.detail,
        "verified_at_start": c.checked,
        "verify_seconds": round(c.seconds, 3),
        "keyed_from": c.keyed_from,
        "key_id": c.key_id,
    }


def load_components() -> dict[str, Component]:
    """Components other packages add to ``runner serve`` (e.g. the web server)."""
    out: dict[str, Component] = {}
    for ep in entry_points(group="claude_runner.components"):
        out[ep.name] = ep.load()
    return out
