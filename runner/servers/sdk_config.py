"""claude-agent-sdk ``McpServerConfig`` dicts, built from a :data:`Launch`.

stdio: ``{"type": "stdio", "command", "args", "env"}``; remote: ``{"type": "http" | "sse",
"url", "headers"}``. The dicts hold decrypted credentials: pass them straight to
``ClaudeAgentOptions(mcp_servers=...)`` and never log, store or return them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from events.servers import EnvVarSpec, ServerKind
from runner.servers.launch import HttpLaunch, Launch, server_launch


def to_sdk_config(launch: Launch) -> dict[str, Any]:
    """The ``McpServerConfig`` of a launch.

    Claude Code starts a stdio server with its own environment plus ``env``, so the CLI's
    environment must itself be minimal (the executor's job).
    """
    if isinstance(launch, HttpLaunch):
        return {"type": launch.transport, "url": launch.url, "headers": dict(launch.headers)}
    # Claude Code's stdio config has no cwd: the server starts in the CLI's working directory
    # and finds its folder through DATA_DIR (in env).
    return {
        "type": "stdio",
        "command": launch.command,
        "args": list(launch.args),
        "env": dict(launch.env),
    }


def sdk_server_config(
    kind: ServerKind,
    name: str,
    *,
    data_dir: Path,
    credentials: Mapping[str, str],
    env: Iterable[EnvVarSpec] = (),
    config: Mapping[str, Any] | None = None,
    server_data: Path | None = None,
) -> dict[str, Any]:
    """One call for the executor's resolver: server + its decrypted credentials -> config."""
    return to_sdk_config(
        server_launch(
            kind,
            name,
            data_dir=data_dir,
            credentials=credentials,
            env=env,
            config=config,
            server_data=server_data,
        )
    )


def write_mcp_config_file(path: Path, servers: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``{"mcpServers": servers}`` to ``path`` (mode 0600, atomically) and return it.

    Give the path to ``ClaudeAgentOptions(mcp_servers=path)``: a dict there is put on the CLI's
    command line as JSON (``--mcp-config '{...}'``), where every local user can read the
    credentials in ``ps``; a file in the run's private config dir cannot be. Delete it (with
    the run's folder) when the run ends.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".mcp-", suffix=".json", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"mcpServers": {k: dict(v) for k, v in servers.items()}}, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
