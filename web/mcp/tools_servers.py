"""Tool-server and credential tools: user-built (dynamic), external and built-in (fixed) servers.

Everything goes through ``runner.servers`` / ``runner.credentials``. Sensitive credential
values are never returned, only whether each is set and a mask (``****`` + at most 4
characters); a value is returned only where the server declares the variable non-sensitive.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from pydantic import Field

from runner.app import Runner
from runner.builtin_servers import BUILTIN_SERVERS
from runner.commands.server_users import users_of
from runner.errors import InvalidInput, NotFound
from runner.jobs_input import normalize_tool
from web.mcp.models import iso
from web.mcp.params import Description, NewDescription
from web.mcp.server import DESTRUCTIVE, IDEMPOTENT, OPEN_WRITE, READ, WRITE, RunnerMCP, actor
from web.mcp.shapes import (
    CredentialOut,
    CredentialsOut,
    EnvVarOut,
    InvocationOut,
    RequiredCredentials,
    ServerDeleted,
    ServerList,
    ServerOut,
    UnconfiguredList,
    UnconfiguredOut,
)

ServerName = Annotated[
    str, Field(description="an MCP server name (see list_dynamic_mcp_servers / list_fixed_...)")
]
Variable = Annotated[str, Field(description="environment variable name, e.g. 'SMTP_PASSWORD'")]
EnvVars = Annotated[
    list[dict[str, Any]] | None,
    Field(
        description="declared variables [{name, description, required, sensitive}]; "
        "variables read with os.environ.get / os.getenv in the code are detected anyway"
    ),
]


def _shown(view: dict[str, Any]) -> dict[str, Any]:
    for key in ("created_at_us", "updated_at_us"):
        if key in view:
            view[key.removesuffix("_us")] = iso(view.pop(key) or None)
    view["credentials_ok"] = not view.get("missing_credentials")
    return view


def register(mcp: RunnerMCP, runner: Runner) -> None:
    q = runner.queries
    servers = runner.servers

    async def describe(name: str, *, code: bool = False) -> ServerOut:
        return ServerOut.model_validate(_shown(await servers.describe(name, code=code)))

    async def credentials(name: str, deleted: str | None = None) -> CredentialsOut:
        view = await describe(name)
        return CredentialsOut(
            server=name,
            credentials=view.credentials,
            missing_credentials=view.missing_credentials,
            credentials_ok=view.credentials_ok,
            deleted=deleted,
        )

    async def of_kind(*kinds: str) -> list[ServerOut]:
        return [
            ServerOut.model_validate(_shown(v))
            for v in await servers.describe_all()
            if v["kind"] in kinds
        ]

    async def builtin(name: str) -> None:
        if name not in BUILTIN_SERVERS:
            raise NotFound(
                f"no built-in server named {name!r}; built-in servers: "
                + ", ".join(sorted(BUILTIN_SERVERS))
            )
        await servers.seed_builtins(actor=actor())  # registers shipped servers not yet known

    # -- user-built and external servers ---------------------------------------------------

    @mcp.tool(annotations=WRITE)
    async def create_mcp_server(
        name: Annotated[
            str, Field(description="letters, digits, '-' or '_'; starts with a letter")
        ],
        code: Annotated[
            str | None,
            Field(
                description="Python source of a stdio MCP server: `from mcp.server.mcpserver "
                "import MCPServer`, `mcp = MCPServer('name')`, `@mcp.tool()` functions, "
                "`mcp.run()` under `if __name__ == '__main__':`; read credentials with "
                "os.environ.get('NAME')"
            ),
        ] = None,
        config: Annotated[
            dict[str, Any] | None,
            Field(
                description="instead of code: an external server as in .mcp.json, e.g. "
                "{'command': 'npx', 'args': [...], 'env': {'KEY': '${KEY}'}} or "
                "{'url': 'https://...', 'headers': {...}}"
            ),
        ] = None,
        description: Description = "",
        env_vars: EnvVars = None,
        enabled: Annotated[
            bool, Field(description="false = created disabled (jobs cannot use it yet)")
        ] = True,
    ) -> ServerOut:
        """Create an MCP server from Python code (or an external command/URL config). It is
        checked, started once to discover its tools, and enabled; jobs then list it in
        mcp_servers and its tools as mcp__<name>__<tool>. Then set its credentials."""
        data: dict[str, Any] = {"name": name, "description": description, "enabled": enabled}
        if code is not None:
            data["code"] = code
        if config is not None:
            data["config"] = config
        if env_vars is not None:
            data["env"] = env_vars
        srv = await servers.create(data, actor=actor())
        return await describe(srv.name)

    @mcp.tool(annotations=READ)
    async def list_dynamic_mcp_servers() -> ServerList:
        """User-built (Python) and external MCP servers: status, tools, credential status."""
        rows = await of_kind("dynamic", "external")
        return ServerList(servers=rows, count=len(rows))

    @mcp.tool(annotations=READ)
    async def get_dynamic_mcp_server(name: ServerName) -> ServerOut:
        """One user-built or external server, including its code or config."""
        srv = await q.server(name)
        if srv.kind == "builtin":
            raise InvalidInput(
                f"{name!r} is a built-in server; see list_fixed_mcp_servers", field="name"
            )
        return await describe(name, code=True)

    @mcp.tool(annotations=IDEMPOTENT)
    async def update_mcp_server(
        name: ServerName,
        code: Annotated[str | None, Field(description="new Python source")] = None,
        config: Annotated[dict[str, Any] | None, Field(description="new external config")] = None,
        description: NewDescription = None,
        env_vars: EnvVars = None,
    ) -> ServerOut:
        """Replace a server's code or config, description or declared variables; tools are
        discovered again."""
        data: dict[str, Any] = {
            k: v
            for k, v in (
                ("code", code),
                ("config", config),
                ("description", description),
                ("env", env_vars),
            )
            if v is not None
        }
        if not data:
            raise InvalidInput("nothing to update: give code, config, description or env_vars")
        await servers.update(name, data, actor=actor())
        return await describe(name)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_mcp_server(
        name: ServerName,
        cascade: Annotated[
            bool,
            Field(
                description="also remove the server and its tools from every job and webhook "
                "that uses it; without it, deleting a server in use is refused, listing them"
            ),
        ] = False,
    ) -> ServerDeleted:
        """Delete a user-built or external server with its files and credentials. Refused
        while jobs or webhooks use it (the error lists them) unless cascade=true."""
        users = await users_of(q, name) if cascade else []
        await servers.delete(name, actor=actor(), cascade=cascade)
        return ServerDeleted(
            name=name, deleted=True, detached_from=[f"{u.kind}:{u.name}" for u in users]
        )

    @mcp.tool(annotations=IDEMPOTENT)
    async def enable_mcp_server(name: ServerName) -> ServerOut:
        """Enable a server so jobs may use it. Already enabled: no-op."""
        await servers.enable(name, actor=actor())
        return await describe(name)

    @mcp.tool(annotations=IDEMPOTENT)
    async def disable_mcp_server(name: ServerName) -> ServerOut:
        """Disable a server: jobs can no longer be given it. Already disabled: no-op."""
        await servers.disable(name, actor=actor())
        return await describe(name)

    # -- built-in (fixed) servers ----------------------------------------------------------

    @mcp.tool(annotations=READ)
    async def list_fixed_mcp_servers() -> ServerList:
        """Built-in servers shipped with the runner (email, http_fetch, memory, ...)."""
        known = {v.name: v for v in await of_kind("builtin")}
        rows = []
        for name, b in sorted(BUILTIN_SERVERS.items()):
            missing = [e.name for e in b.env if e.required]
            rows.append(
                known.get(name)
                or ServerOut(
                    name=name,
                    kind="builtin",
                    description=b.description,
                    enabled=False,
                    status="not registered yet (enable_fixed_server registers it)",
                    credentials=[
                        CredentialOut.model_validate(msgspec.to_builtins(e)) for e in b.env
                    ],
                    missing_credentials=missing,
                    credentials_ok=not missing,
                )
            )
        return ServerList(servers=rows, count=len(rows))

    @mcp.tool(annotations=IDEMPOTENT)
    async def enable_fixed_server(name: ServerName) -> ServerOut:
        """Enable a built-in server (survives restarts). Already enabled: no-op."""
        await builtin(name)
        await servers.enable(name, actor=actor())
        return await describe(name)

    @mcp.tool(annotations=IDEMPOTENT)
    async def disable_fixed_server(name: ServerName) -> ServerOut:
        """Disable a built-in server (survives restarts). Already disabled: no-op."""
        await builtin(name)
        await servers.disable(name, actor=actor())
        return await describe(name)

    # -- invocation and credentials --------------------------------------------------------

    @mcp.tool(annotations=OPEN_WRITE)
    async def invoke_internal_mcp_tool(
        tool: Annotated[
            str, Field(description="'mcp__<server>__<tool>' ('server:tool' is normalised)")
        ],
        arguments: Annotated[
            dict[str, Any] | None, Field(description="the tool's arguments")
        ] = None,
        timeout_seconds: Annotated[
            float | None, Field(gt=0, le=600, description="give up after this (max 600 s)")
        ] = None,
    ) -> InvocationOut:
        """Call one tool of an enabled server once, in its own process with its credentials,
        to try it out; the call is recorded. Returns its text and structured result."""
        name, warning = normalize_tool(tool)
        if not name.startswith("mcp__") or "__" not in name[5:]:
            raise InvalidInput(
                f"tool {tool!r} is not an MCP tool name; use 'mcp__<server>__<tool>'", field="tool"
            )
        server, tool_name = name[5:].split("__", 1)
        result = await servers.invoke(
            server, tool_name, arguments or {}, actor=actor(), time_limit=timeout_seconds
        )
        return InvocationOut.model_validate(
            {**result, "tool": name, "warnings": [warning] if warning else []}
        )

    @mcp.tool(annotations=IDEMPOTENT)
    async def set_server_credential(
        server_name: ServerName,
        var_name: Variable,
        value: Annotated[
            str,
            Field(
                description="the value; stored encrypted. Shown again only if the server "
                "declares the variable non-sensitive; a sensitive value never is"
            ),
        ],
        sensitive: Annotated[
            bool | None,
            Field(
                description="true marks the value secret even if declared non-sensitive; "
                "false is refused for a variable the server declares sensitive"
            ),
        ] = None,
    ) -> CredentialsOut:
        """Set one credential of a server (encrypted at rest, given only to that server's
        process). Whether it is shown again is the server's declaration: sensitive variables
        (see list_required_credentials) are never shown again, at most '****' and their last 4
        characters; variables declared non-sensitive are shown in clear by
        get_server_credentials."""
        await servers.set_credential(
            server_name, var_name, value, sensitive=sensitive, actor=actor()
        )
        return await credentials(server_name)

    @mcp.tool(annotations=READ)
    async def get_server_credentials(server_name: ServerName) -> CredentialsOut:
        """Which credentials a server needs and which are set. Sensitive values are masked
        (never shown); values of variables the server declares non-sensitive are shown."""
        return await credentials(server_name)

    @mcp.tool(annotations=READ)
    async def list_required_credentials(server_name: ServerName) -> RequiredCredentials:
        """The variables a server declares, with descriptions and whether each is required."""
        srv = await q.server(server_name)
        return RequiredCredentials(
            server=server_name,
            env_vars=[EnvVarOut.model_validate(msgspec.to_builtins(e)) for e in srv.env],
        )

    @mcp.tool(annotations=READ)
    async def get_unconfigured_servers() -> UnconfiguredList:
        """Servers (built-in, user-built, external) that miss required credentials."""
        rows = [
            UnconfiguredOut(
                name=v.name,
                kind=v.kind,
                enabled=v.enabled,
                missing_credentials=v.missing_credentials,
            )
            for v in await of_kind("builtin", "dynamic", "external")
            if v.missing_credentials
        ]
        return UnconfiguredList(unconfigured_servers=rows, count=len(rows))

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_server_credential(
        server_name: ServerName, var_name: Variable
    ) -> CredentialsOut:
        """Delete one stored credential of a server."""
        await servers.delete_credential(server_name, var_name, actor=actor())
        return await credentials(server_name, deleted=var_name)
