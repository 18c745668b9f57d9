"""Recovery: runs left claimed or started by a process that is gone become ``RunCrashed``.

Who is gone is decided by the lease keeper (``actors/leases.py``: boot id, pid and process
start time on this host, heartbeat age elsewhere); this module only turns that verdict into
events. ``crash_run`` is the one place a run is declared crashed, so any further check before
it (e.g. that the dead process's process group is gone too) belongs there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable

from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import run_stream
from events.runs import RunCrashed
from projections.queries import runs as run_queries
from projections.read import select_rows
from projections.runs import RUNS, RunView

#: A check run before a run is declared crashed: no process of the run may still act (the
#: sandbox's process record, ``actors/sandbox/processes.py``). It returns how that is known (kept
#: in the crash's detail), or None to keep the run for a later sweep.
ConfirmGone = Callable[[RunView], Awaitable[str | None]]


def instance_id() -> str:
    """Who this process is, in a form other processes on the host can check for liveness."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_alive(instance: str) -> bool:
    """Is the process named by ``instance`` still running (on this host)?"""
    host, _, pid = instance.rpartition(":")
    if host != socket.gethostname():
        return True  # can't tell from here; never crash another machine's runs
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


async def orphan_candidates(store: Backend) -> list[RunView]:
    """Runs some process claimed and has not finished."""
    runs: list[RunView] = await select_rows(store, RUNS, run_queries.RUNNING)
    return runs


async def crash_run(
    store: Backend,
    run: RunView,
    why: str,
    *,
    confirm_gone: ConfirmGone | None = None,
) -> bool:
    """Record ``run`` as crashed (``why`` says whose process stopped); False if not recorded.

    Appended against the stream's current version, so two recovering processes never both
    crash the same run (the loser's append is refused and it moves on).
    """
    note = "" if confirm_gone is None else await confirm_gone(run)
    if note is None:
        return False
    confirmed = f"; {note}" if note else ""
    stream = run_stream(run.run_id)
    version = await store.stream_version(stream)
    try:
        await store.append(
            stream,
            [
                RunCrashed(
                    run_id=run.run_id,
                    detail=f"{why} while this run was {run.state}; no result was recorded"
                    f"{confirmed}",
                )
            ],
            expected=version,
            meta=Meta(actor="recovery"),
        )
    except ConcurrencyError:
        return False
    return True


async def recover(store: Backend, me: str, *, confirm_gone: ConfirmGone | None = None) -> list[str]:
    """Mark orphaned runs crashed, judged by PID alone (the retrier then retries them).

    The service uses the lease keeper instead; this stays for tools without leases.
    """
    crashed: list[str] = []
    for run in await orphan_candidates(store):
        claimer = run.claimer or ""
        if claimer != me and is_alive(claimer):
            continue
        why = f"the runner process {claimer or '?'} stopped"
        if await crash_run(store, run, why, confirm_gone=confirm_gone):
            crashed.append(run.run_id)
    return crashed
