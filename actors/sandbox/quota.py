"""Disk bounds of a run: its folders' size under a quota, and a free-space reserve for the log.

There is no size-limited file system to mount here without privileges beyond bubblewrap's, so
a watcher measures the run's folders every ``interval`` seconds and ends the run (a typed
``RunFailed(disk_quota)``) as soon as they pass the quota or free space on the data dir's file
system drops under the reserve, which keeps room for the run's terminal events.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import anyio


def tree_size(root: Path, cap: int | None = None) -> int:
    """Bytes used by regular files under ``root`` (symlinks not followed); stops past ``cap``."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        total += st.st_blocks * 512 if st.st_blocks else st.st_size
                except OSError:
                    continue
            if cap is not None and total > cap:
                return total
    return total


def breach(paths: Iterable[Path], quota: int | None, disk: Path, reserve: int) -> str | None:
    """The reason the run must stop now, or ``None``."""
    if quota is not None:
        used = sum(tree_size(p, quota) for p in paths)
        if used > quota:
            return f"the run's files use {used:,} bytes, over the workspace quota of {quota:,}"
    try:
        free = shutil.disk_usage(disk).free
    except OSError:
        return None
    if free < reserve:
        return (
            f"only {free:,} bytes are free on the data disk, under the reserve of {reserve:,} "
            "kept for the event log"
        )
    return None


async def watch(
    paths: Iterable[Path], *, quota: int | None, disk: Path, reserve: int, interval: float
) -> str:
    """Return the reason once the run breaches its disk bounds (checks on a worker thread)."""
    folders = tuple(paths)
    while True:
        reason = await anyio.to_thread.run_sync(breach, folders, quota, disk, reserve)
        if reason is not None:
            return reason
        await anyio.sleep(interval)
