"""The one launcher for untrusted processes: ``env -i <whitelist> bwrap --args 3 -- <program>``.

A :class:`Box` describes one sandbox (what it sees, where it starts, its environment);
:meth:`Box.command` turns it into a program + environment for whoever spawns it: the SDK (as
``cli_path``), the MCP stdio client (tool servers), or a plain subprocess. The program is a small
wrapper script that *execs* ``bwrap`` (same pid, so ``--die-with-parent`` binds the sandbox to
the thread that spawned the wrapper: spawn it from the event loop, never from a short-lived
thread). The wrapper

* reads the mount arguments from ``SBX_ARGV`` (newline-separated) and hands them to bwrap on fd 3
  (``--args 3``), so ``/proc/1/cmdline`` inside and ``ps`` outside show no paths or values;
* starts bwrap under ``env -i`` with only the variables named in ``SBX_KEEP``: bwrap's own
  environment is readable inside as ``/proc/1/environ``, so nothing else of the service's
  environment (secret key, admin password, ...) may reach it.

Every sandbox: new pid/ipc/uts/cgroup namespaces, ``--die-with-parent``, ``--new-session``,
``--cap-drop ALL``, its own ``/proc`` and ``/dev``, a private ``/tmp``, the root read-only. The
network is shared with the host (see the README's Containment section for what that reaches).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from actors.sandbox.mounts import (
    Mount,
    SandboxError,
    check_path,
    mount_args,
    system_args,
)

WRAPPER = r"""#!/bin/bash
# claude-runner sandbox wrapper: exec a program inside bubblewrap (see actors/sandbox/launcher.py).
set -euo pipefail
mapfile -t sbx_args <<<"${SBX_ARGV:?SBX_ARGV not set}"
keep=()
for v in ${SBX_KEEP:-}; do
  if [ -n "${!v+x}" ]; then keep+=("$v=${!v}"); fi
done
exec /usr/bin/env -i "${keep[@]}" "${SBX_BWRAP:?}" --args 3 -- ${SBX_CMD:+"$SBX_CMD"} "$@" \
  3< <(printf '%s\0' "${sbx_args[@]}")
"""

BASE_ARGS: tuple[str, ...] = (
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
)

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
CONTROL_VARS = ("SBX_ARGV", "SBX_KEEP", "SBX_BWRAP", "SBX_CMD")


class Box(msgspec.Struct, frozen=True, kw_only=True):
    """One sandbox: ``mounts`` in order; ``hide`` are host folders that must stay invisible
    (an empty, read-only tmpfs goes over each); ``cwd`` inside; ``env`` is the *complete*
    environment inside."""

    tmp: Path | None = None
    """Host folder shown as ``/tmp`` (``None``: an empty tmpfs)."""
    mounts: tuple[Mount, ...] = ()
    late_mounts: tuple[Mount, ...] = ()
    """Mounted after ``hide`` (workspace, run dirs, server state: may live inside hidden dirs)."""
    hide: tuple[Path, ...] = ()
    cwd: str = "/"
    env: Mapping[str, str] = {}
    inherit: tuple[str, ...] = ()
    """Names the spawner sets on the wrapper itself that may pass inside (e.g. the SDK's)."""

    def args(self) -> list[str]:
        """The bwrap arguments (mount order matters: /tmp first, ``--remount-ro /`` last)."""
        out = [*BASE_ARGS]
        if self.tmp is None:
            out += ["--tmpfs", "/tmp"]
        else:
            out += ["--bind", check_path(str(self.tmp)), "/tmp"]
        out += system_args()
        out += mount_args(self.mounts)
        # An empty tmpfs over each hidden folder (it may lie under a read-only mount or under
        # /tmp), read-only once the late mounts inside it are made: writes there fail too.
        for h in self.hide:
            out += ["--tmpfs", check_path(str(h))]
        out += mount_args(self.late_mounts)
        for h in self.hide:
            out += ["--remount-ro", str(h)]
        out += ["--chdir", check_path(self.cwd), "--remount-ro", "/"]
        return out

    def command(self, program: str | None = None) -> tuple[str, dict[str, str]]:
        """``(wrapper path, environment for the wrapper)``. Run the wrapper with the program's
        arguments, after ``program`` (``None``: the program is the wrapper's first argument)."""
        env = {k: v for k, v in self.env.items() if v != ""}
        bad = [k for k in env if not k.replace("_", "a").isalnum() or k in CONTROL_VARS]
        if bad:
            raise SandboxError(f"unusable environment variable name(s): {', '.join(bad)}")
        control = {
            "SBX_ARGV": "\n".join(self.args()),
            "SBX_KEEP": " ".join(sorted({*env, *self.inherit})),
            "SBX_BWRAP": bwrap_path(),
            "SBX_CMD": program or "",
        }
        return str(wrapper_path()), {**env, **control}


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxError("bubblewrap (bwrap) is not installed on this host")
    return found


def wrapper_dir() -> Path:
    return Path(os.environ.get("RUNNER_SANDBOX_DIR") or "/var/tmp") / f"claude-runner-{os.getuid()}"


@functools.cache
def wrapper_path() -> Path:
    """The wrapper script, written once per content (0700 in a 0700 folder of this user)."""
    digest = hashlib.sha256(WRAPPER.encode()).hexdigest()[:12]
    folder = wrapper_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.lstat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or folder.is_symlink():
        raise SandboxError(f"{folder} is not a private folder of this user; refused")
    path = folder / f"sandbox-{digest}.sh"
    if not path.is_file() or path.read_text() != WRAPPER:
        tmp = folder / f".{path.name}.{os.getpid()}"
        tmp.write_text(WRAPPER)
        tmp.chmod(0o700)
        os.replace(tmp, path)
    return path


@functools.cache
def probe() -> str | None:
    """``None`` when a sandbox can start on this host, else the reason it cannot (cached)."""
    try:
        bwrap = bwrap_path()
        args = [a for a in (*BASE_ARGS, *system_args()) if a != "--die-with-parent"]
        done = subprocess.run(
            [bwrap, *args, "--", "/bin/true"],
            env={},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        wrapper_path()
    except (SandboxError, OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode != 0:
        return f"bubblewrap cannot start a sandbox here: {done.stderr.strip()[:300]}"
    return None


def inner_env(extra: Mapping[str, str], *, home: str, path: str = BASE_PATH) -> dict[str, str]:
    """A sandbox environment: the basics plus ``extra`` (``IS_SANDBOX`` when root, see
    sandbox.md pitfall 9: Claude Code refuses bypass modes as uid 0 otherwise)."""
    env = {"PATH": path, "HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    if os.getuid() == 0:
        env["IS_SANDBOX"] = "1"
    env.update(extra)
    return env


def stdio_command(box: Box, argv: Sequence[str]) -> tuple[str, list[str], dict[str, str]]:
    """``(program, args, env)`` that runs ``argv`` inside ``box`` (for an MCP stdio client)."""
    if not argv:
        raise SandboxError("nothing to run")
    program, env = box.command()
    return program, list(argv), env
