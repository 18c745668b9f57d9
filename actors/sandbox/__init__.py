"""Sandboxes for untrusted processes: the Claude Code CLI of a run and tool servers.

``mounts`` says what a sandbox sees, ``launcher`` starts one (bubblewrap), ``processes`` records
and confirms the end of a run's process, ``quota`` bounds a run's disk use.
"""

from __future__ import annotations

from actors.sandbox.launcher import Box, inner_env, probe, stdio_command
from actors.sandbox.mounts import CLI_PATH_INSIDE, Mount, SandboxError, contained, ro, rw

__all__ = [
    "CLI_PATH_INSIDE",
    "Box",
    "Mount",
    "SandboxError",
    "contained",
    "inner_env",
    "probe",
    "ro",
    "rw",
    "stdio_command",
]
