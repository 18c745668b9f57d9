"""Recovery at start: runs left claimed or started by a process that is gone become RunCrashed."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import anyio

from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import run_stream
from events.runs import RunCrashed
from events.sqlite_store import SQLiteEventStore
from projections.read import select_rows
from projections.runs import RUNS, RunView


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


async def recover(
    store: SQLiteEventStore, me: str, ensure_gone: Callable[[str], str] | None = None
) -> list[str]:
    """Mark orphaned runs crashed (the retrier then retries them per the job's policy).

    ``ensure_gone(run_id)`` runs first (on a worker thread): it makes sure no process of the
    old run can still act when its retry starts, and says how it knows (kept in the detail).
    """
    crashed: list[str] = []
    runs: list[RunView] = await select_rows(store, RUNS, "WHERE state IN ('claimed','running')")
    for run in runs:
        claimer = run.claimer or ""
        if claimer != me and is_alive(claimer):
            continue
        confirmed = ""
        if ensure_gone is not None:
            note = await anyio.to_thread.run_sync(ensure_gone, run.run_id)
            confirmed = f"; {note}"
        try:
            await store.append(
                run_stream(run.run_id),
                [
                    RunCrashed(
                        run_id=run.run_id,
                        detail=f"the runner process {claimer or '?'} stopped while this run was "
                        f"{run.state}; no result was recorded{confirmed}",
                    )
                ],
                meta=Meta(actor="recovery"),
            )
            crashed.append(run.run_id)
        except ConcurrencyError:
            continue
    return crashed
