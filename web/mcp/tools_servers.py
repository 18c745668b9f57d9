"""Tool-server and credential tools: user-built (dynamic) and built-in (fixed) MCP servers.

Reads come from the servers view. Writes go to the server commands (``runner.commands.servers``);
while that module is missing they answer "not available yet" — the names and shapes are fixed.
Credential values are never returned: only whether each is set, and a mask for sensitive ones.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import msgspec
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from runner.app import Runner
from runner.builtin_servers import BUILTIN_SERVERS
from runner.errors import InvalidInput, NotFound
from web.mcp.models import iso
from web.mcp.server import DESTRUCTIVE, IDEMPOTENT, READ, WRITE, RunnerMCP, actor

ServerName = Annotated[
    str, Field(description="an MCP server name (see list_dynamic_mcp_servers / list_fixed_...)")
]
Variable = Annotated[str, Field(description="environment variable name, e.g. 'SMTP_PASSWORD'")]

try:
    _mod: Any = importlib.import_module("runner.commands.servers")
except ImportError:  # the tool-server commands have not landed in this checkout
    _mod = None


def register(mcp: RunnerMCP, runner: Runner) -> None:
    q = runner.queries

    def command(method: str) -> Any:
        cmds = getattr(runner, "servers", None) if _mod is not None else None
        fn = getattr(cmds, method, None)
        if fn is None:
            raise ToolError(
                f"{method.replace('_', ' ')} of MCP servers is not available yet in this version "
                "of the runner (runner.commands.servers is missing)"
            )
        return fn

    async def status(srv: Any) -> dict[str, Any]:
        creds = {c.variable: c for c in await q.credentials(srv.name)}
        env = []
        missing = []
        for spec in srv.env:
            cred = creds.get(spec.name)
            if cred is None and spec.required:
                missing.append(spec.name)
            env.append(
                {
                    "name": spec.name,
                    "description": spec.description,
                    "required": spec.required,
                    "sensitive": spec.sensitive,
                    "configured": cred is not None,
                    "hint": (f"****{cred.secret.hint}" if cred.secret.hint else "****")
                    if cred is not None
                    else None,
                }
            )
        return {"env_vars": env, "missing_credentials": missing, "credentials_ok": not missing}

    async def summary(srv: Any, *, code: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": srv.name,
            "kind": srv.kind,
            "description": srv.description,
            "enabled": srv.enabled,
            "tools": [f"mcp__{srv.name}__{t.name}" for t in srv.tools],
            "start_error": srv.start_error,
            "created_at": iso(srv.created_at_us or None),
            "updated_at": iso(srv.updated_at_us or None),
            "invocations": srv.invocations,
            **await status(srv),
        }
        if code:
            out["code"] = srv.code
            out["config"] = srv.config
        return out

    async def servers(kind: str | None = None) -> list[Any]:
        return [s for s in await q.servers() if kind is None or s.kind == kind]

    async def find(name: str) -> Any:
        return await q.server(name)

    # -- dynamic (user-built) servers ------------------------------------------------------

    @mcp.tool(annotations=WRITE)
    async def create_mcp_server(
        name: Annotated[
            str, Field(description="letters, digits, '-' or '_'; starts with a letter")
        ],
        code: Annotated[
            str,
            Field(
                description="Python source of a stdio MCP server using mcp (MCPServer, "
                "@mcp.tool()); read credentials with os.environ.get('NAME')"
            ),
        ],
        description: str = "",
        env_vars: Annotated[
            list[dict[str, Any]] | None,
            Field(
                description="declared variables [{name, description, required, sensitive}]; "
                "default: detected from os.environ/os.getenv in the code"
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Create a user-built MCP server from Python code; it is checked, started once to
        discover its tools, and enabled. Jobs then name it in mcp_servers."""
        fn = command("create")
        srv = await fn(
            {"name": name, "code": code, "description": description, "env": env_vars},
            actor=actor(),
        )
        return await summary(srv if not isinstance(srv, tuple) else srv[0])

    @mcp.tool(annotations=READ)
    async def list_dynamic_mcp_servers() -> dict[str, Any]:
        """User-built MCP servers with their tools and credential status."""
        rows = [await summary(s) for s in await servers("dynamic")]
        return {"servers": rows, "count": len(rows)}

    @mcp.tool(annotations=READ)
    async def get_dynamic_mcp_server(name: ServerName) -> dict[str, Any]:
        """One user-built MCP server including its code."""
        srv = await find(name)
        if srv.kind != "dynamic":
            raise InvalidInput(f"{name!r} is a {srv.kind} server, not a user-built one")
        return await summary(srv, code=True)

    @mcp.tool(annotations=IDEMPOTENT)
    async def update_mcp_server(
        name: ServerName,
        code: Annotated[str | None, Field(description="new Python source")] = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Replace a user-built server's code and/or description (tools are re-discovered)."""
        if code is None and description is None:
            raise InvalidInput("nothing to update: give code and/or description")
        fn = command("update")
        data = {k: v for k, v in (("code", code), ("description", description)) if v is not None}
        srv = await fn(name, data, actor=actor())
        return await summary(srv if not isinstance(srv, tuple) else srv[0])

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_mcp_server(name: ServerName) -> dict[str, Any]:
        """Delete a user-built server, its files and credentials. Jobs naming it stop using it."""
        await find(name)
        await command("delete")(name, actor=actor())
        return {"name": name, "deleted": True}

    @mcp.tool(annotations=IDEMPOTENT)
    async def enable_mcp_server(name: ServerName) -> dict[str, Any]:
        """Enable a server so jobs may use it. Already enabled: no-op."""
        await find(name)
        await command("enable")(name, actor=actor())
        return await summary(await find(name))

    @mcp.tool(annotations=IDEMPOTENT)
    async def disable_mcp_server(name: ServerName) -> dict[str, Any]:
        """Disable a server: runs no longer get it. Already disabled: no-op."""
        await find(name)
        await command("disable")(name, actor=actor())
        return await summary(await find(name))

    # -- built-in (fixed) servers ----------------------------------------------------------

    @mcp.tool(annotations=READ)
    async def list_fixed_mcp_servers() -> dict[str, Any]:
        """Built-in servers shipped with the runner (email, http_fetch, memory, ...)."""
        known = {s.name: s for s in await servers("builtin")}
        rows = []
        for name, b in sorted(BUILTIN_SERVERS.items()):
            srv = known.get(name)
            if srv is not None:
                rows.append(await summary(srv))
            else:
                rows.append(
                    {
                        "name": name,
                        "kind": "builtin",
                        "description": b.description,
                        "enabled": False,
                        "registered": False,
                        "env_vars": [msgspec.to_builtins(e) for e in b.env],
                    }
                )
        return {"servers": rows, "count": len(rows)}

    async def builtin(name: str) -> None:
        if name not in BUILTIN_SERVERS:
            raise NotFound(
                f"no built-in server named {name!r}; built-in servers: "
                + ", ".join(sorted(BUILTIN_SERVERS))
            )

    @mcp.tool(annotations=IDEMPOTENT)
    async def enable_fixed_server(name: ServerName) -> dict[str, Any]:
        """Enable a built-in server (survives restarts). Already enabled: no-op."""
        await builtin(name)
        await command("enable")(name, actor=actor())
        return await summary(await find(name))

    @mcp.tool(annotations=IDEMPOTENT)
    async def disable_fixed_server(name: ServerName) -> dict[str, Any]:
        """Disable a built-in server (survives restarts). Already disabled: no-op."""
        await builtin(name)
        await command("disable")(name, actor=actor())
        return await summary(await find(name))

    # -- invocation and credentials --------------------------------------------------------

    @mcp.tool(annotations=WRITE)
    async def invoke_internal_mcp_tool(
        tool: Annotated[
            str, Field(description="'mcp__<server>__<tool>' ('server:tool' is normalised)")
        ],
        arguments: Annotated[
            dict[str, Any] | None, Field(description="the tool's arguments")
        ] = None,
    ) -> dict[str, Any]:
        """Call one tool of an enabled server once (in its own process, with its credentials)
        to test it; the call is recorded."""
        from runner.jobs_input import normalize_tool

        name, warning = normalize_tool(tool)
        if not name.startswith("mcp__") or "__" not in name[5:]:
            raise InvalidInput(
                f"tool {tool!r} is not an MCP tool name; use 'mcp__<server>__<tool>'", field="tool"
            )
        server, tool_name = name[5:].split("__", 1)
        await find(server)
        result = await command("invoke")(server, tool_name, arguments or {}, actor=actor())
        out = result if isinstance(result, dict) else msgspec.to_builtins(result)
        return {"tool": name, "warnings": [warning] if warning else [], "result": out}

    @mcp.tool(annotations=IDEMPOTENT)
    async def set_server_credential(
        server_name: ServerName,
        var_name: Variable,
        value: Annotated[str, Field(description="the value; stored encrypted, never shown again")],
    ) -> dict[str, Any]:
        """Set one credential of a server (encrypted at rest, injected only into that server)."""
        srv = await find(server_name)
        names = [e.name for e in srv.env]
        if names and var_name not in names:
            raise InvalidInput(
                f"server {server_name!r} declares no variable {var_name!r}; "
                f"its variables: {', '.join(names)}",
                field="var_name",
            )
        await command("set_credential")(server_name, var_name, value, actor=actor())
        return {"server": server_name, **await status(await find(server_name))}

    @mcp.tool(annotations=READ)
    async def get_server_credentials(server_name: ServerName) -> dict[str, Any]:
        """Which credentials a server needs and which are set (values are never shown)."""
        return {"server": server_name, **await status(await find(server_name))}

    @mcp.tool(annotations=READ)
    async def list_required_credentials(server_name: ServerName) -> dict[str, Any]:
        """The variables a server declares, with descriptions and whether each is required."""
        srv = await find(server_name)
        return {"server": server_name, "env_vars": [msgspec.to_builtins(e) for e in srv.env]}

    @mcp.tool(annotations=READ)
    async def get_unconfigured_servers() -> dict[str, Any]:
        """Servers (built-in and user-built) that miss required credentials."""
        rows = []
        for srv in await servers():
            st = await status(srv)
            if st["missing_credentials"]:
                rows.append(
                    {
                        "name": srv.name,
                        "kind": srv.kind,
                        "enabled": srv.enabled,
                        "missing_credentials": st["missing_credentials"],
                    }
                )
        return {"unconfigured_servers": rows, "count": len(rows)}

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_server_credential(
        server_name: ServerName, var_name: Variable
    ) -> dict[str, Any]:
        """Delete one stored credential of a server."""
        await find(server_name)
        if var_name not in {c.variable for c in await q.credentials(server_name)}:
            raise NotFound(f"server {server_name!r} has no stored credential {var_name!r}")
        await command("delete_credential")(server_name, var_name, actor=actor())
        return {"server": server_name, "deleted": var_name, **await status(await find(server_name))}
