"""How a tool server is shown: status, tools, masked credentials (never a secret value)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from projections import ServerView
from runner.commands.credentials import CredentialInfo
from runner.servers.input import server_status
from runner.servers.materialize import code_path


def public_server(
    srv: ServerView, creds: Sequence[CredentialInfo], *, data_dir: Path, code: bool = False
) -> dict[str, Any]:
    """A server as the API, CLI and dashboard show it (credentials masked by ``creds``)."""
    missing = [c.name for c in creds if c.required and not c.configured]
    out: dict[str, Any] = {
        "name": srv.name,
        "kind": srv.kind,
        "description": srv.description,
        "enabled": srv.enabled,
        "status": server_status(srv, missing),
        "start_error": srv.start_error,
        "tools": [
            {"name": t.name, "id": f"mcp__{srv.name}__{t.name}", "description": t.description}
            for t in srv.tools
        ],
        "credentials": [msgspec.to_builtins(c) for c in creds],
        "missing_credentials": missing,
        "invocations": srv.invocations,
        "created_at_us": srv.created_at_us,
        "updated_at_us": srv.updated_at_us,
    }
    if srv.kind == "external":
        out["config"] = srv.config  # placeholders only: literal secrets were lifted out
    if code and srv.kind == "dynamic":
        out["code"] = srv.code
        out["file"] = str(code_path(data_dir, srv.name))
    return out
