"""How to start (or reach) one server: its command or URL plus exactly its own credentials.

A :data:`Launch` is what discovery, invocation and the claude-agent-sdk config are built from.
Secret values are kept out of ``repr`` so a launch can be logged safely.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from actors.sandbox import Mount, ro, rw
from events.servers import EnvVarSpec, ServerKind
from runner.servers.code import is_reserved_env, is_sensitive
from runner.servers.errors import InvalidServerConfig, ServerError
from runner.servers.materialize import code_path, server_data_dir

MIN_SECRET_CHARS = 4
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class StdioLaunch:
    """A server run as a child process speaking MCP over stdin/stdout."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    mounts: tuple[Mount, ...] = ()
    """What the server needs to see in a sandbox besides the system and the Python
    environment: its own code (read-only) and its own state folder (read-write)."""
    confined: bool = False
    """``command`` starts the server inside its own sandbox (see ``confine.confined``)."""


@dataclass(frozen=True)
class HttpLaunch:
    """A remote server reached over streamable HTTP (``http``) or legacy SSE (``sse``)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    transport: Literal["http", "sse"] = "http"
    secrets: tuple[str, ...] = field(default=(), repr=False)


Launch = StdioLaunch | HttpLaunch


class MissingCredentials(ServerError):
    """Required credentials of a server are not set."""

    def __init__(self, server: str, names: Iterable[str]) -> None:
        self.names = tuple(names)
        super().__init__(f"server {server!r} needs credential(s): {', '.join(self.names)}")


def missing_credentials(
    env: Iterable[EnvVarSpec], credentials: Mapping[str, str]
) -> tuple[str, ...]:
    """Names of required variables without a (non-empty) credential, sorted."""
    return tuple(sorted(s.name for s in env if s.required and not credentials.get(s.name)))


def secret_values(env: Iterable[EnvVarSpec], credentials: Mapping[str, str]) -> tuple[str, ...]:
    """Credential values to redact: those of sensitive specs and of variables without a spec.

    Values shorter than :data:`MIN_SECRET_CHARS` are left out: masking every "1" in an output
    would destroy it while protecting nothing.
    """
    specs = {s.name: s for s in env}
    out = {
        value
        for name, value in credentials.items()
        if len(value) >= MIN_SECRET_CHARS and (specs[name].sensitive if name in specs else True)
    }
    return tuple(sorted(out, key=len, reverse=True))


def _server_env(
    data_dir: Path, credentials: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in credentials.items() if not is_reserved_env(k)}
    env.update(extra or {})
    env["DATA_DIR"] = str(data_dir)
    return env


# -I: isolated mode. Neither the working directory (a job's workspace, for Claude Code) nor the
# script's folder lands on sys.path, and PYTHON* variables are ignored, so nothing a job writes
# can shadow ``mcp`` or ``runner`` inside a server.
PYTHON_FLAGS: tuple[str, ...] = ("-I",)


def dynamic_launch(
    data_dir: Path,
    name: str,
    credentials: Mapping[str, str],
    env: Iterable[EnvVarSpec] = (),
    *,
    server_data: Path | None = None,
) -> StdioLaunch:
    """Launch of a materialised dynamic server: ``python -I <data_dir>/servers/<name>/server.py``.

    ``DATA_DIR`` is the server's ``data/`` folder unless ``server_data`` overrides it.
    """
    folder = Path(server_data) if server_data is not None else server_data_dir(data_dir, name)
    return StdioLaunch(
        command=sys.executable,
        args=(*PYTHON_FLAGS, str(code_path(data_dir, name))),
        env=_server_env(folder, credentials),
        cwd=str(folder),
        secrets=secret_values(env, credentials),
        mounts=(ro(code_path(data_dir, name)), rw(folder)),
    )


def builtin_launch(
    data_dir: Path,
    name: str,
    credentials: Mapping[str, str],
    *,
    server_data: Path | None = None,
) -> StdioLaunch:
    """Launch of a shipped server: ``python -I -m runner.builtin_servers.<module>``.

    Pass ``server_data`` to give a job its own store (the ``memory`` server is per job);
    the folder is created if missing.
    """
    from runner.builtin_servers import get_builtin

    spec = get_builtin(name)
    if spec is None:
        raise ServerError(f"unknown built-in server {name!r}")
    folder = Path(server_data) if server_data is not None else server_data_dir(data_dir, name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # built-ins have no materialised folder
    return StdioLaunch(
        command=sys.executable,
        args=(*PYTHON_FLAGS, "-m", spec.module),
        env=_server_env(folder, credentials),
        cwd=str(folder),
        secrets=secret_values(spec.env, credentials),
        mounts=(rw(folder),),
    )


def substitute(text: str, credentials: Mapping[str, str], missing: list[str]) -> str:
    """Fill ``${VAR}`` / ``${VAR:-default}`` from credentials; unset names go to ``missing``."""

    def repl(m: re.Match[str]) -> str:
        value = credentials.get(m.group(1))
        if value:
            return value
        if m.group(2) is not None:
            return m.group(2)
        missing.append(m.group(1))
        return ""

    return PLACEHOLDER.sub(repl, text)


def external_launch(
    name: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, str],
    env: Iterable[EnvVarSpec] = (),
) -> Launch:
    """Launch of an external server from its normalised config (see ``external.parse_config``).

    Placeholders are filled from ``credentials`` here, at the last moment; a placeholder
    without a credential or default raises :class:`MissingCredentials`.
    """
    specs = tuple(env)
    missing: list[str] = []
    secrets = set(secret_values(specs, credentials))
    kind = config.get("type", "stdio")
    if kind == "stdio":
        command = substitute(str(config["command"]), credentials, missing)
        args = tuple(substitute(str(a), credentials, missing) for a in config.get("args", ()))
        penv = {
            str(k): substitute(str(v), credentials, missing)
            for k, v in dict(config.get("env") or {}).items()
        }
        launch: Launch = StdioLaunch(
            command=command, args=args, env=penv, cwd=config.get("cwd"), secrets=()
        )
    elif kind in ("http", "sse"):
        url = substitute(str(config["url"]), credentials, missing)
        headers = {}
        for k, v in dict(config.get("headers") or {}).items():
            headers[str(k)] = substitute(str(v), credentials, missing)
            if PLACEHOLDER.search(str(v)) and is_sensitive_header(str(k)):
                secrets.add(headers[str(k)])
        launch = HttpLaunch(url=url, headers=headers, transport=kind)
    else:
        raise InvalidServerConfig(f"server {name!r}: unsupported type {kind!r}")
    if missing:
        raise MissingCredentials(name, sorted(set(missing)))
    ordered = tuple(
        sorted((s for s in secrets if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True)
    )
    if isinstance(launch, StdioLaunch):
        return StdioLaunch(launch.command, launch.args, launch.env, launch.cwd, ordered)
    return HttpLaunch(launch.url, launch.headers, launch.transport, ordered)


def is_sensitive_header(name: str) -> bool:
    """Headers that carry credentials (``Authorization``, ``Cookie``, ``X-Api-Key``...)."""
    low = name.lower()
    return low in {"authorization", "proxy-authorization", "cookie"} or is_sensitive(name)


def server_launch(
    kind: ServerKind,
    name: str,
    *,
    data_dir: Path,
    credentials: Mapping[str, str],
    env: Iterable[EnvVarSpec] = (),
    config: Mapping[str, Any] | None = None,
    server_data: Path | None = None,
) -> Launch:
    """Dispatch on the server kind; the one call a resolver needs."""
    if kind == "dynamic":
        return dynamic_launch(data_dir, name, credentials, env, server_data=server_data)
    if kind == "builtin":
        return builtin_launch(data_dir, name, credentials, server_data=server_data)
    if config is None:
        raise InvalidServerConfig(f"external server {name!r} has no config")
    return external_launch(name, config, credentials, env)
