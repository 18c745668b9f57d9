"""The run's sandbox: whether a run may start, and its ``ClaudeAgentOptions`` confined.

With sandbox mode ``auto`` or ``required`` the Claude Code CLI itself runs inside one bubblewrap
sandbox per run (``cli_path`` is the launcher's wrapper, which execs ``bwrap``), so its file
tools, Bash, background commands and the stdio MCP servers it spawns all see only:

* the system (``/usr``, a few ``/etc`` files, CA certificates) and the CLI at ``/opt/claude``,
  read-only; for tool servers also the Python environment and each server's code, read-only;
* the job's workspace, the run's config dir and home (same paths as on the host) and the run's
  private ``/tmp``, read-write; each server's own state folder, read-write.

Claude Code's own Bash sandbox is off inside (sandbox.md §4 (a)): nesting it needs capabilities
``--cap-drop ALL`` removed, and the outer sandbox already confines Bash and everything else.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claude_agent_sdk import ClaudeAgentOptions

from actors.executor_options import (
    ExecutorSettings,
    RunDirs,
    SandboxMode,
    find_cli,
    sandbox_problem,
)
from actors.sandbox import CLI_PATH_INSIDE, Box, Mount, SandboxError, contained, inner_env, ro, rw
from actors.sandbox.mounts import python_mounts

#: Variables the SDK sets on the CLI's process after ``options.env``; kept inside.
SDK_VARS = (
    "CLAUDE_AGENT_SDK_VERSION",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SDK_READS_SESSION_STATE",
    "CLAUDE_AGENT_SDK_CLIENT_APP",
    "CLAUDE_AGENT_SDK_DERIVED_CLIENT_APP",
    "PWD",
)

WORKSPACES = "workspaces"


def refusal(
    mode: SandboxMode, problem: str | None, tools: Sequence[str], servers: Sequence[str]
) -> str | None:
    """Why a run may not start without a sandbox, or ``None`` (it may, or a sandbox is there)."""
    if mode == "off" or problem is None:
        return None
    if mode == "required" or tools or servers:
        needs = "tools" if (tools or servers) else "a sandbox (sandbox mode 'required')"
        return (
            f"this run needs {needs} and runs only inside the bubblewrap sandbox, which cannot "
            f"start on this host: {problem}. Install bubblewrap, or set sandbox mode 'off' "
            "(unconfined runs) in the settings"
        )
    return None


def run_box(
    settings: ExecutorSettings,
    dirs: RunDirs,
    env: dict[str, str],
    mounts: Sequence[Mount],
    *,
    servers: bool = False,
) -> Box:
    """The sandbox of one run; refuses a workspace that resolves outside the workspaces root.

    With ``servers`` (the run has stdio MCP servers) the Python environment is visible too."""
    contained(dirs.workspace, settings.data_dir / WORKSPACES, "workspace")
    cli = find_cli(settings)
    if cli is None:
        raise SandboxError("no Claude Code CLI to put in the sandbox")
    inside = {k: v for k, v in env.items() if v}
    inside["TMPDIR"] = "/tmp"
    base: list[Mount] = [ro(cli, CLI_PATH_INSIDE)]
    if mounts or servers:
        base += python_mounts()
    return Box(
        tmp=dirs.tmp,
        mounts=tuple(base),
        hide=(settings.data_dir,),
        late_mounts=(rw(dirs.workspace), rw(dirs.config), rw(dirs.home), *mounts),
        cwd=str(dirs.workspace),
        env=inner_env(inside, home=str(dirs.home)),
        inherit=SDK_VARS,
    )


def confine(opts: ClaudeAgentOptions, box: Box) -> None:
    """Make ``opts`` start the CLI inside ``box`` (no inner Claude Code sandbox)."""
    wrapper, env = box.command(CLI_PATH_INSIDE)
    opts.cli_path = wrapper
    opts.env = env
    opts.sandbox = None


def sandbox_health(settings: ExecutorSettings, mode: SandboxMode) -> dict[str, Any]:
    """Sandbox facts for the health panel, with the warning it must show (if any)."""
    problem = sandbox_problem(settings)
    warning = None
    if mode == "off":
        warning = (
            "Sandbox mode is OFF: runs and tool servers execute unconfined, with the service's "
            "own access to this host (its data dir, database and key file). Set it to 'auto'."
        )
    elif problem is not None:
        warning = (
            "No sandbox: runs with tools and user-written tool servers are refused until "
            f"bubblewrap can start here ({problem})."
        )
    return {
        "available": problem is None,
        "bwrap": shutil.which("bwrap"),
        "mode": mode,
        "problem": problem,
        "warning": warning,
    }


def bwrap_failure(stderr: Sequence[str]) -> str | None:
    """bubblewrap's own complaint, if the sandbox failed to start."""
    for line in stderr:
        if line.startswith("bwrap:") or line.startswith("/usr/bin/env:"):
            return line.strip()[:500]
    return None


def scratch_of(data_dir: Path, run_id: str) -> Path:
    return data_dir / "runs" / run_id
