"""The running service: recovery, then the actors under the supervisor, then the components.

``runner serve`` calls ``run_service``; components contributed by other packages (the web
server) are found through the ``claude_runner.components`` entry point group, so this package
never imports them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Coroutine
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from actors.approval_recovery import requeue_waiting
from actors.claimer import Claimer
from actors.executor import Executor, RunContext
from actors.executor_options import ExecutorSettings, auth_mode, find_cli, sandbox_available
from actors.materializer import Materializer
from actors.pool import ExecutorPool
from actors.recovery import instance_id, recover
from actors.retrier import Retrier
from actors.scheduler import Scheduler
from actors.supervisor import ActorSpec, Health, supervise
from actors.webhook import WebhookActor
from events.envelope import Meta
from events.system import ServiceStarted, ServiceStopped
from projections.runs import RunView
from runner.app import Runner
from runner.approval_notify import ApprovalNotifier
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
        self.executor = executor or Executor(
            runner.store, executor_settings(runner), resolver=self.resolver
        )
        self.materializer = Materializer(
            runner.store,
            runner.servers.files(),
            runner.servers.discover,
            on_ready=lambda on: setattr(runner.servers, "auto_discovery", on),
        )
        send, receive = anyio.create_memory_object_stream[RunView](1000)
        self.scheduler = Scheduler(runner.store)
        self.claimer = Claimer(runner.store, self.instance, send)
        self.pool = ExecutorPool(
            runner.store, self._execute, receive, on_cancel=self.executor.note_cancel
        )
        self.retrier = Retrier(runner.store)
        self.webhooks = WebhookActor(runner.store)
        self.notifier = ApprovalNotifier(runner)

    async def _execute(self, run: RunView) -> None:
        with job_scope(run.job_id, run.run_id):  # per-job server data (memory)
            await self.executor.execute(
                RunContext(run_id=run.run_id, job_id=run.job_id, spec=run.spec, attempt=run.attempt)
            )

    def status(self) -> dict[str, Any]:
        """Health facts for the dashboard and ``get_health``."""
        s = self.executor.settings
        cli = find_cli(s)
        db = self.runner.config.db_path
        size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.exists())
        return {
            **self.health.snapshot(),
            "queue_depth": self.claimer.queue_depth,
            "running_here": self.pool.running,
            "cli": {"found": cli is not None, "path": str(cli) if cli else None},
            "auth": auth_mode(s),
            "sandbox": {"available": sandbox_available(s), "bwrap": shutil.which("bwrap")},
            "database": {"path": str(db), "bytes": size},
        }

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        store = self.runner.store
        await store.append(
            "service",
            [ServiceStarted(instance=self.instance, pid=os.getpid(), version=VERSION)],
            meta=Meta(actor="service"),
        )
        head = await store.head()
        self.retrier.from_position = head
        self.notifier.from_position = head
        requeued = await requeue_waiting(store, self.instance)  # before recover() crashes them
        crashed = await recover(store, self.instance)
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
            ActorSpec("approval_notifier", self.notifier.run),
        ]
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(supervise, actors, store, self.health)
                for name, component in sorted(load_components().items()):
                    log.info("starting component %s", name)
                    await tg.start(component, self.runner, self)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                self.pool.cancel_all("the runner is shutting down")
                await store.append(
                    "service",
                    [ServiceStopped(instance=self.instance, reason="shutdown")],
                    meta=Meta(actor="service"),
                )


def load_components() -> dict[str, Component]:
    """Components other packages add to ``runner serve`` (e.g. the web server)."""
    out: dict[str, Component] = {}
    for ep in entry_points(group="claude_runner.components"):
        out[ep.name] = ep.load()
    return out
