"""Tool servers in their own sandbox: a stdio :data:`Launch` rewritten to start inside bubblewrap.

Discovery (at every create, update and credential change) and invocation start servers through
:func:`confined`, so a server's code never runs outside a sandbox: it sees the system, the
Python environment, its own code (read-only) and its own state folder (read-write), an empty
``/tmp``, and an environment of exactly ``PATH``/``HOME``/``LANG``/``TMPDIR`` plus its launch
env (its own credentials and ``DATA_DIR``). The data dir (database, key file, other servers,
workspaces) is not visible. HTTP servers run elsewhere and are not touched.

Without a sandbox (mode ``auto``/``required``), user-written servers (dynamic, external) are
refused with the reason; built-ins (our code) still run in ``auto``. Mode ``off`` runs all
unconfined (the health panel warns).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from actors.sandbox import Box, SandboxError, contained, inner_env, probe
from actors.sandbox.launcher import BASE_PATH
from actors.sandbox.mounts import python_mounts
from events.servers import ServerKind
from runner.servers.errors import ServerError
from runner.servers.launch import Launch, StdioLaunch

Mode = Literal["auto", "required", "off"]


class SandboxRefused(ServerError):
    """A server may not start: no sandbox here, or its sandbox cannot be built."""


def refusal(kind: ServerKind, mode: Mode, problem: str | None) -> str | None:
    """Why a server of ``kind`` may not start unconfined, or ``None``."""
    if mode == "off" or problem is None:
        return None
    if kind == "builtin" and mode == "auto":
        return None
    return (
        f"{kind} tool servers run only inside the bubblewrap sandbox, which cannot start on "
        f"this host: {problem}. Install bubblewrap, or set sandbox mode 'off' in the settings"
    )


def server_box(launch: StdioLaunch, data_dir: Path) -> Box:
    """The sandbox of one server process; refuses mounts that map outside the data dir."""
    for m in launch.mounts:
        contained(Path(m.source), data_dir, "server path")
    state = next((m.dest for m in launch.mounts if m.writable), None)
    cwd = launch.cwd if launch.cwd and launch.cwd == state else (state or "/")
    env = {**launch.env, "PYTHONDONTWRITEBYTECODE": "1"}
    path = f"{Path(sys.executable).parent}:{BASE_PATH}"
    return Box(
        mounts=tuple(python_mounts()),
        hide=(data_dir,),
        late_mounts=launch.mounts,
        cwd=cwd,
        env=inner_env(env, home=state or "/tmp", path=path),
    )


def confined(
    launch: Launch,
    *,
    kind: ServerKind,
    data_dir: Path,
    mode: Mode,
    problem: str | None = None,
    check: bool = True,
) -> Launch:
    """``launch`` as it must start: inside its sandbox, unchanged, or refused.

    ``problem`` is why no sandbox can start (``check`` probes the host when it is ``None``).
    """
    if not isinstance(launch, StdioLaunch) or mode == "off":
        return launch
    if problem is None and check:
        problem = probe()
    why = refusal(kind, mode, problem)
    if why is not None:
        raise SandboxRefused(why)
    if problem is not None:
        return launch  # a built-in in mode auto on a host without bubblewrap
    try:
        program, env = server_box(launch, Path(data_dir)).command()
    except SandboxError as exc:
        raise SandboxRefused(f"cannot build the server's sandbox: {exc}") from None
    return StdioLaunch(
        command=program,
        args=(launch.command, *launch.args),
        env=env,
        cwd=None,
        secrets=launch.secrets,
        mounts=launch.mounts,
        confined=True,
    )
