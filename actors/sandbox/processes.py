"""Which process holds a run's sandbox, and making sure it is gone.

When a run's process starts, :func:`write_record` stores its pid, its start time (field 22 of
``/proc/<pid>/stat``, clock ticks since boot) and the boot id in ``<run dir>/process.json``. A pid
alone is not an identity (pids are reused); pid + start time + boot id is. Recovery calls
:func:`ensure_gone`: if that exact process still lives it is SIGKILLed (the outer ``bwrap``: its
pid namespace, and with it every process of the run, dies with it) and awaited.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

RECORD = "process.json"


class ProcessRecord(msgspec.Struct, frozen=True, kw_only=True):
    pid: int
    start_ticks: int
    boot_id: str
    sandboxed: bool
    tmp: str = ""
    """The run's private ``/tmp`` on the host (removed once the process is gone)."""


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or ``None`` if it is gone/a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def write_record(
    run_dir: Path, pid: int, *, sandboxed: bool, tmp: Path | None = None
) -> ProcessRecord | None:
    """Record the run's process (call right after it started; ``None`` if already gone)."""
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    rec = ProcessRecord(
        pid=pid, start_ticks=ticks, boot_id=boot_id(), sandboxed=sandboxed, tmp=str(tmp or "")
    )
    tmp = run_dir / f".{RECORD}.tmp"
    tmp.write_bytes(msgspec.json.encode(rec))
    os.replace(tmp, run_dir / RECORD)
    return rec


def read_record(run_dir: Path) -> ProcessRecord | None:
    try:
        return msgspec.json.decode((run_dir / RECORD).read_bytes(), type=ProcessRecord)
    except (OSError, msgspec.DecodeError):
        return None


def is_same_alive(rec: ProcessRecord) -> bool:
    return rec.boot_id == boot_id() and start_ticks(rec.pid) == rec.start_ticks


def ensure_gone(run_dir: Path, *, wait: float = 5.0) -> str:
    """Make sure the process recorded for a run no longer runs; say how that is known."""
    rec = read_record(run_dir)
    if rec is None:
        return "no process record (the run never started its process here)"
    what = f"{'sandbox' if rec.sandboxed else 'CLI'} process {rec.pid}"
    if rec.boot_id != boot_id():
        return f"{what} belonged to an earlier boot of this host; gone"
    if not is_same_alive(rec):
        return f"{what} (start {rec.start_ticks}) already gone"
    try:
        os.kill(rec.pid, signal.SIGKILL)
    except ProcessLookupError:
        return f"{what} (start {rec.start_ticks}) already gone"
    deadline = time.monotonic() + wait
    while is_same_alive(rec) and time.monotonic() < deadline:
        time.sleep(0.02)
    if is_same_alive(rec):
        return f"{what} (start {rec.start_ticks}) still alive after SIGKILL"
    return f"{what} (start {rec.start_ticks}) was still alive; killed"


def describe(rec: ProcessRecord) -> str:
    return json.dumps(msgspec.to_builtins(rec))


def ensure_run_processes_gone(data_dir: Path, run_id: str) -> str:
    """Before a run is declared crashed (and retried): make sure no process of it can still
    act, then remove its private folders. Returns how that is known (for ``RunCrashed``)."""
    run_dir = Path(data_dir) / "runs" / run_id
    if not run_dir.is_dir():
        return "no run folder (the run never started here)"
    note = ensure_gone(run_dir)
    rec = read_record(run_dir)
    if "still alive" not in note:
        if rec is not None and rec.tmp and Path(rec.tmp).name.startswith("cr-"):
            shutil.rmtree(rec.tmp, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return note


def remove_stale_workspaces(data_dir: Path, active: Iterable[str]) -> list[str]:
    """Retention for job-less runs: remove ``workspaces/adhoc-<run>`` of runs not in ``active``
    (normally removed when their run ends; this catches runs whose process died)."""
    keep = {f"adhoc-{r}" for r in active}
    root = Path(data_dir) / "workspaces"
    removed = []
    for entry in root.glob("adhoc-*") if root.is_dir() else ():
        if entry.name not in keep and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
