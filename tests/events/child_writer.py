"""A second OS process on the same log, driven by ``test_sqlite_processes.py``.

``python tests/events/child_writer.py DB MODE N``: opens the store, prints ``ready``, waits for
a line on stdin (optionally a wall-clock time to start at), then
* ``stream``: appends N events to ``child`` (``reason`` = the wall clock in ns), 3 ms apart;
* ``race``: tries ``no_stream`` on ``race-0`` .. ``race-{N-1}`` and appends to ``own-child``;
and prints one JSON line: the race streams it won and lost.
"""

from __future__ import annotations

import json
import sys
import time

import anyio

from events import NO_STREAM, ConcurrencyError, SQLiteEventStore
from events.system import ServiceStopped


async def main(path: str, mode: str, n: int) -> None:
    won: list[int] = []
    lost: list[int] = []
    async with SQLiteEventStore.open(path, tail_interval=0.005) as store:
        print("ready", flush=True)
        go = await anyio.to_thread.run_sync(sys.stdin.readline)
        if go.strip():  # a wall-clock start time shared with the parent: race in step
            await anyio.sleep(max(0.0, float(go) - time.time()))
        for i in range(n):
            if mode == "stream":
                stamp = str(time.time_ns())
                await store.append("child", [ServiceStopped(instance="child", reason=stamp)])
                await anyio.sleep(0.003)
            else:
                try:
                    await store.append(
                        f"race-{i}",
                        [ServiceStopped(instance="child", reason="child")],
                        expected=NO_STREAM,
                    )
                    won.append(i)
                except ConcurrencyError:
                    lost.append(i)
                await store.append("own-child", [ServiceStopped(instance="child", reason=str(i))])
    print(json.dumps({"won": won, "lost": lost}), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
