"""Executor settings, auth detection and the isolated ``ClaudeAgentOptions`` of one run.

Isolation follows the SDK reference: a fresh ``CLAUDE_CONFIG_DIR`` and ``TMPDIR`` per run, no
settings files, strict MCP config, no system prompt, an explicit model, exactly the job's
built-in tools and servers, and the CLI kept offline except for the model API. The SDK merges
``os.environ`` *under* ``options.env``, so every variable of the service's own environment that
could steer the CLI is overridden with ``""`` unless the caller's auth settings give it a value.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
from claude_agent_sdk import ClaudeAgentOptions, HookMatcher

SandboxMode = Literal["auto", "required", "off"]
AuthMode = Literal["api_key", "bedrock", "vertex", "claude_login", "none"]

AUTH_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "AWS_", "GOOGLE_", "CLOUD_ML_", "VERTEX_", "OTEL_")
"""Parent variables with these prefixes never reach the CLI unless given in ``auth_env``."""

SERVICE_PREFIXES = ("RUNNER_",)
"""The runner's own configuration variables: blanked for the CLI and its MCP servers."""

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")

OFFLINE_ENV: dict[str, str] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
}

FILE_TOOLS = frozenset({"Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "Glob", "Grep", "LS"})


class ExecutorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the executor needs from configuration; nothing is read from ``os.environ``."""

    data_dir: Path
    auth_env: dict[str, str] = {}
    """ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL / CLAUDE_CODE_USE_BEDROCK / CLAUDE_CODE_USE_VERTEX
    and their AWS_* / GOOGLE_* / CLOUD_ML_* settings, exactly as the runner's config gives them."""
    host_claude_config_dir: Path | None = None
    """Holds ``.credentials.json`` from ``claude login`` (only that file is copied per run)."""
    cli_path: Path | None = None
    default_model: str = "claude-sonnet-4-5"
    sandbox_available: bool | None = None
    """``None``: probe whether bubblewrap can start a sandbox here (``actors.sandbox.probe``)."""
    sandbox_mode: SandboxMode | None = None
    """``auto``/``required``: the CLI runs inside the run's bubblewrap sandbox (refused when it
    needs tools and no sandbox can start); ``off``: unconfined (operator's choice, loud warning).
    ``None``: the ``sandbox_mode`` setting, read per run."""
    workspace_quota_bytes: int | None = 2 * 1024**3
    """A run whose workspace + private folders grow past this fails with ``disk_quota``."""
    disk_reserve_bytes: int = 64 * 1024**2
    """Free space on the data disk kept for the event log: a run is stopped under it."""
    disk_check_seconds: float = 1.0
    max_block_chars: int = 20_000
    max_run_chars: int = 1_000_000
    max_api_retries: int = 2
    default_timeout_seconds: float = 3600.0
    """Bound for runs whose spec sets no timeout: a run never hangs forever."""
    close_timeout_seconds: float = 2.0
    restricted: bool = True
    """Pass the CLI's ``--restricted`` (file tools confined to the working dir)."""
    stderr_lines: int = 40
    tmp_root: Path | None = None
    """Parent of the per-run ``TMPDIR`` (default: the system temp dir). Keep it short: the
    sandbox puts unix sockets there and their paths must stay under 108 bytes."""


def auth_mode(settings: ExecutorSettings) -> AuthMode:
    """How the CLI will authenticate with these settings (for the health check)."""
    env = settings.auth_env
    if _truthy(env.get("CLAUDE_CODE_USE_BEDROCK")):
        return "bedrock"
    if _truthy(env.get("CLAUDE_CODE_USE_VERTEX")):
        return "vertex"
    if env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN"):
        return "api_key"
    if env.get("CLAUDE_CODE_OAUTH_TOKEN") or _login_credentials(settings) is not None:
        return "claude_login"
    return "none"


def find_cli(settings: ExecutorSettings) -> Path | None:
    """The CLI a run would use: the override, else the SDK's bundled binary, else ``claude``."""
    if settings.cli_path is not None:
        p = settings.cli_path
        return p if p.is_file() and os.access(p, os.X_OK) else None
    import claude_agent_sdk

    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if bundled.is_file():
        return bundled
    found = shutil.which("claude")
    return Path(found) if found else None


SECRET_AUTH_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
)


def auth_secrets(settings: ExecutorSettings) -> list[str]:
    """Credential values from ``auth_env`` that must never appear in run output."""
    return [settings.auth_env[k] for k in SECRET_AUTH_VARS if settings.auth_env.get(k)]


def sandbox_available(settings: ExecutorSettings) -> bool:
    """Whether the run's bubblewrap sandbox can start here."""
    return sandbox_problem(settings) is None


def sandbox_problem(settings: ExecutorSettings) -> str | None:
    """Why no sandbox can start here, or ``None``."""
    if settings.sandbox_available is not None:
        return None if settings.sandbox_available else "the sandbox is disabled on this host"
    from actors.sandbox import probe

    return probe()


def inner_sandbox_available(settings: ExecutorSettings) -> bool:
    """Claude Code's own Bash sandbox (bwrap + socat), used only with sandbox mode ``off``."""
    if settings.sandbox_available is not None:
        return settings.sandbox_available
    return shutil.which("bwrap") is not None and shutil.which("socat") is not None


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in {"1", "true", "yes", "on"}


def _login_credentials(settings: ExecutorSettings) -> Path | None:
    if settings.host_claude_config_dir is None:
        return None
    p = settings.host_claude_config_dir / ".credentials.json"
    return p if p.is_file() else None


class RunDirs(msgspec.Struct, frozen=True, kw_only=True):
    workspace: Path
    scratch: Path
    config: Path
    tmp: Path
    home: Path


def run_dirs(settings: ExecutorSettings, run_id: str, job_id: str | None) -> RunDirs:
    """Create the job's persistent workspace and the run's scratch dirs (removed afterwards):
    ``<data_dir>/runs/<run_id>/config`` and a short ``TMPDIR`` under ``tmp_root``."""
    for part in (job_id, run_id):
        if part is not None and (not part or "/" in part or part.startswith(".") or "\0" in part):
            raise ValueError(f"id {part!r} would map outside the workspaces folder; refused")
    ws = settings.data_dir / "workspaces" / (job_id or f"adhoc-{run_id}")
    scratch = settings.data_dir / "runs" / run_id
    for d in (ws, scratch / "config", scratch / "home"):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = str(settings.tmp_root) if settings.tmp_root is not None else None
    tmp = Path(tempfile.mkdtemp(prefix="cr-", dir=root))
    dirs = RunDirs(
        workspace=ws, scratch=scratch, config=scratch / "config", tmp=tmp, home=scratch / "home"
    )
    creds = _login_credentials(settings)
    if creds is not None and "ANTHROPIC_API_KEY" not in settings.auth_env:
        target = dirs.config / ".credentials.json"
        shutil.copyfile(creds, target)
        target.chmod(0o600)
    return dirs


def remove_scratch(dirs: RunDirs) -> None:
    shutil.rmtree(dirs.scratch, ignore_errors=True)
    shutil.rmtree(dirs.tmp, ignore_errors=True)


def relayed(settings: ExecutorSettings, relay_env: Mapping[str, str]) -> ExecutorSettings:
    """A relayed run's settings: the relay's base URL and run token replace every configured
    credential, and no ``claude login`` file is copied into the run."""
    return msgspec.structs.replace(settings, auth_env=dict(relay_env), host_claude_config_dir=None)


def build_env(
    settings: ExecutorSettings, dirs: RunDirs, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The CLI's environment: parent's steering variables blanked, then auth, then isolation."""
    parent = os.environ if parent is None else parent
    env = {k: "" for k in parent if k.upper().startswith(AUTH_PREFIXES)}
    env.update({k: "" for k in parent if k.upper() in PROXY_VARS})
    # The service's own settings (secret key, admin password) are neither the CLI's business nor
    # that of the MCP servers it starts (they inherit its environment).
    env.update({k: "" for k in parent if k.upper().startswith(SERVICE_PREFIXES)})
    env.update(settings.auth_env)
    env.update(OFFLINE_ENV)
    env.update(
        {
            "CLAUDE_CONFIG_DIR": str(dirs.config),
            "TMPDIR": str(dirs.tmp),
            "CLAUDE_CODE_MAX_RETRIES": str(settings.max_api_retries),
            "CLAUDE_CODE_ENTRYPOINT": "sdk-py",
        }
    )
    return env


def build_options(
    settings: ExecutorSettings,
    dirs: RunDirs,
    *,
    model: str,
    tools: list[str],
    mcp_servers: dict[str, Any] | Path,
    can_use_tool: Any,
    pre_tool_use: Any,
    stderr: Callable[[str], None],
    max_turns: int | None,
    budget_usd: float | None,
    sandbox: bool,
    keep_session: bool = False,
    resume: str | None = None,
) -> ClaudeAgentOptions:
    """The run's options; ``tools`` and ``mcp_servers`` are exactly the job's.

    Only an assistant turn ``keep_session`` (its transcript stays in its conversation's config
    dir) and resumes the previous turn's session; every other run leaves no transcript."""
    extra: dict[str, str | None] = {} if keep_session else {"no-session-persistence": None}
    if settings.restricted:
        extra["restricted"] = None
    opts = ClaudeAgentOptions(
        cwd=str(dirs.workspace),
        env=build_env(settings, dirs),
        model=model,
        system_prompt=None,
        tools=tools,
        allowed_tools=[],
        mcp_servers=mcp_servers,
        strict_mcp_config=True,
        setting_sources=[],
        permission_mode="default",
        can_use_tool=can_use_tool,
        hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[pre_tool_use])]},
        max_turns=max_turns,
        max_budget_usd=budget_usd,
        include_partial_messages=True,
        stderr=stderr,
        extra_args=extra,
        resume=resume if keep_session else None,
    )
    if settings.cli_path is not None:
        opts.cli_path = str(settings.cli_path)
    if sandbox:
        opts.sandbox = {
            "enabled": True,
            "autoAllowBashIfSandboxed": True,
            "allowUnsandboxedCommands": False,
        }
    return opts


def write_mcp_config(
    dirs: RunDirs, configs: dict[str, Any]
) -> tuple[dict[str, Any] | Path, Path | None]:
    """The run's MCP servers: ``(for options.mcp_servers, extra --mcp-config file or None)``.

    Servers with a config go into a 0600 file in the run's private config dir (removed with it):
    a dict would be put on the CLI's command line (``--mcp-config '{...}'``), where ``ps`` shows
    every local user the credentials in it. In-process SDK servers (no credentials in their
    config) cannot live in a file: they stay a dict, and the file becomes a second
    ``--mcp-config`` (the CLI merges both).
    """
    sdk = {n: c for n, c in configs.items() if isinstance(c, dict) and c.get("type") == "sdk"}
    rest = {n: c for n, c in configs.items() if n not in sdk}
    if not rest:
        return sdk, None
    path = dirs.config / "mcp.json"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        json.dump({"mcpServers": rest}, fh)
    return (sdk, path) if sdk else (path, None)
