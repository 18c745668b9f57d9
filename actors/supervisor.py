"""The supervisor: runs every actor in one task group and restarts a crashed one with backoff.

A crash is an ``ActorCrashed`` event, so it is never silent; ``Health`` tells the dashboard
which actors are alive.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskStatus

from events.envelope import Meta
from events.storage_faults import classify
from events.store import EventStore
from events.system import ActorCrashed

log = logging.getLogger("runner.supervisor")

ActorMain = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class ActorSpec:
    name: str
    main: ActorMain


@dataclass
class Health:
    """Liveness of each actor, owned by the supervisor (readers only look)."""

    instance: str
    alive: dict[str, bool] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    #: The storage fault actors are waiting out (None when storage answers).
    storage: str | None = None
    storage_since: float | None = None

    def storage_fault(self, message: str | None) -> None:
        """Note (or clear, with None) the storage fault actors are waiting out."""
        if message is None:
            self.storage, self.storage_since = None, None
        elif self.storage is None:
            self.storage, self.storage_since = message, time.time()
        else:
            self.storage = message

    def snapshot(self) -> dict[str, object]:
        return {
            "instance": self.instance,
            "storage": {
                "ok": self.storage is None,
                "error": self.storage,
                "since": self.storage_since,
            },
            "actors": {
                name: {
                    "alive": alive,
                    "restarts": self.restarts.get(name, 0),
                    "last_error": self.last_error.get(name),
                }
                for name, alive in sorted(self.alive.items())
            },
        }


async def _keep_alive(
    spec: ActorSpec, store: EventStore, health: Health, *, min_backoff: float, max_backoff: float
) -> None:
    backoff = min_backoff
    while True:
        started = time.monotonic()
        health.alive[spec.name] = True
        try:
            await spec.main()
            error = "the actor returned unexpectedly"
        except Exception as exc:
            fault = classify(exc)
            if fault is not None:
                # Not a bug: wait for storage and start again (the crash could not be
                # recorded anyway, and the actor resumes from the log).
                health.storage_fault(str(fault))
                log.warning("actor %s waits for storage: %s", spec.name, fault)
                await anyio.sleep(min(backoff, fault.retry_after))
                backoff = min(backoff * 2, max_backoff)
                continue
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            log.exception("actor %s crashed", spec.name)
        health.alive[spec.name] = False
        health.restarts[spec.name] = health.restarts.get(spec.name, 0) + 1
        health.last_error[spec.name] = error[:2000]
        if time.monotonic() - started > 60:
            backoff = min_backoff
        with anyio.CancelScope(shield=True):
            try:
                await store.append(
                    "service",
                    [
                        ActorCrashed(
                            instance=health.instance,
                            actor=spec.name,
                            error=error[:2000],
                            restart_in_seconds=backoff,
                        )
                    ],
                    meta=Meta(actor="supervisor"),
                )
            except Exception:
                log.exception("could not record the crash of %s", spec.name)
        await anyio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


async def supervise(
    actors: Sequence[ActorSpec],
    store: EventStore,
    health: Health,
    *,
    min_backoff: float = 0.5,
    max_backoff: float = 30.0,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``actors`` until cancelled, restarting each one that crashes."""
    async with anyio.create_task_group() as tg:
        for spec in actors:
            tg.start_soon(
                functools.partial(
                    _keep_alive,
                    spec,
                    store,
                    health,
                    min_backoff=min_backoff,
                    max_backoff=max_backoff,
                ),
                name=f"actor:{spec.name}",
            )
        task_status.started()
