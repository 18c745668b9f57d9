"""Blank credential values in this process's original environment block.

``/proc/<pid>/environ`` shows the environment a process was *started* with, read from its
memory; ``os.environ`` changes do not reach it. Once the relay holds the model credential, no
one in this process needs it there, and any process of the same user without its own PID
namespace (a tool server, say) could read it. Overwriting the values in place closes that.
Python's ``os.environ`` (a copy made at start-up) is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("runner.relay")

MODEL_SECRET_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
)


def scrub_environ(names: Iterable[str], pid: str = "self") -> list[str]:
    """Overwrite with zero bytes the values of ``names`` in the environment block; returns the
    names scrubbed. Best effort: where ``/proc`` is missing or not writable, nothing changes."""
    wanted = {n.encode() for n in names}
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50, 51)
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            block = mem.read(end - start)
            done: list[str] = []
            pos = 0
            for entry in block.split(b"\0"):
                key, eq, value = entry.partition(b"=")
                if eq and key in wanted and value.strip(b"\0"):
                    mem.seek(start + pos + len(key) + 1)
                    mem.write(b"\0" * len(value))
                    done.append(key.decode())
                pos += len(entry) + 1
            return done
    except (OSError, ValueError, IndexError) as exc:
        log.warning("could not blank credentials in the process environment: %s", exc)
        return []
