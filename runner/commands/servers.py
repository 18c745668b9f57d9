"""Tool-server commands: create, update, delete, enable, disable, discover, invoke, import.

Dynamic servers are Python code held in the log (``ServerCreated``/``ServerUpdated`` on the
stream ``server-<name>``); ``<data_dir>/servers/<name>/server.py`` is their projection, written
after the event is committed (and kept in step by the materializer actor). Every check runs
before anything is appended or written, so a refused request leaves nothing behind.

Tools are discovered by starting the server with a real MCP client (``discover``). When a
materializer runs in this process (``auto_discovery``) it does that on every change and
commands wait for its answer; otherwise commands discover inline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from actors.materializer import ServerFiles
from actors.sandbox import probe
from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.servers import (
    EnvVarSpec,
    ServerCreated,
    ServerDeleted,
    ServerDisabled,
    ServerEnabled,
    ServerUpdated,
)
from projections import ServerView
from runner.builtin_servers import BUILTIN_SERVERS
from runner.commands.credentials import CredentialCommands, CredentialInfo, server_stream
from runner.commands.server_imports import ServerImports
from runner.commands.server_probes import ServerProbes
from runner.commands.server_users import detach, refuse_if_used, users_of
from runner.errors import Conflict, InvalidInput, NotFound
from runner.queries import Queries
from runner.servers.describe import public_server
from runner.servers.discovery import DISCOVERY_TIMEOUT
from runner.servers.input import (
    AUTO_DESCRIPTION,
    CREATE_FIELDS,
    UPDATE_FIELDS,
    ServerStatus,
    analyse_input,
    declared_env,
    description_text,
    external_input,
    keep_sensitivity,
    sensitivity_overrides,
    server_name,
    server_status,
)
from runner.servers.invoke import INVOKE_TIMEOUT
from runner.servers.materialize import remove_server, server_files

__all__ = ["ServerCommands", "ServerStatus", "server_status"]


class ServerCommands(ServerImports, ServerProbes):
    """Commands on tool servers; ``credentials`` holds the credential commands."""

    def __init__(
        self,
        store: Backend,
        queries: Queries,
        data_dir: Path,
        credentials: CredentialCommands,
    ) -> None:
        self.store = store
        self.q = queries
        self.data_dir = Path(data_dir)
        self.credentials = credentials
        self.auto_discovery = False
        """Set by a materializer running in this process: it discovers, commands wait."""
        self.discovery_timeout = DISCOVERY_TIMEOUT
        self.invoke_timeout = INVOKE_TIMEOUT
        self.sandbox_probe: Callable[[], str | None] = probe
        """Why no sandbox can start here (``None``: it can); replaceable in tests."""

    def files(self) -> ServerFiles:
        """The file operations the materializer actor applies (``<data_dir>/servers``)."""
        return server_files(self.data_dir)

    # -- reads -------------------------------------------------------------------------------

    async def describe(self, name: str, *, code: bool = False) -> dict[str, Any]:
        """A server as the API, CLI and dashboard show it: status, tools, masked credentials."""
        srv = await self.q.server(name)
        out = public_server(srv, await self.credential_info(srv), data_dir=self.data_dir, code=code)
        out["recent_invocations"] = [
            msgspec.to_builtins(i) for i in await self.q.tool_invocations(name, limit=10)
        ]
        return out

    async def credential_info(self, srv: ServerView) -> list[CredentialInfo]:
        return self.credentials.describe(srv, await self.q.credentials(srv.name))

    async def describe_all(self) -> list[dict[str, Any]]:
        return [
            public_server(s, await self.credential_info(s), data_dir=self.data_dir)
            for s in await self.q.servers()
        ]

    # -- create / update / delete ------------------------------------------------------------

    async def create(
        self, data: Mapping[str, Any], *, actor: str = "user", discover: bool = True
    ) -> ServerView:
        """Create a dynamic server from ``code`` or an external one from ``config``.

        Fields: ``name``, ``code`` | ``config`` (a ``.mcp.json`` entry: ``command``/``args``/
        ``env`` or ``url``/``headers``), ``description``, ``env`` (declared variables),
        ``sensitivity`` (variable -> bool overrides), ``enabled`` (default true).
        """
        unknown = set(data) - CREATE_FIELDS
        if unknown:
            raise InvalidInput(
                f"unknown server fields {sorted(unknown)}; "
                f"valid: {', '.join(sorted(CREATE_FIELDS))}"
            )
        name = server_name(data.get("name"))
        description = description_text(data.get("description"))
        has_code = data.get("code") is not None
        has_config = data.get("config") is not None
        if has_code == has_config:
            raise InvalidInput("give either code (a Python server) or config (an external one)")
        if data.get("kind") not in (None, "dynamic" if has_code else "external"):
            raise InvalidInput("kind must be 'dynamic' with code or 'external' with config")
        declared = declared_env(data.get("env"))
        sens = sensitivity_overrides(data.get("sensitivity"))
        secrets: Mapping[str, str] = {}
        if has_code:
            code, env = analyse_input(data["code"], declared, sens)
            event = ServerCreated(
                name=name, kind="dynamic", description=description, code=code, env=env
            )
        else:
            ext = external_input(name, data["config"], description, declared, sens)
            secrets = ext.secrets
            event = ServerCreated(
                name=name, kind="external", description=description, config=ext.config, env=ext.env
            )
        extra: list[Any] = await self.credentials_events(name, secrets, event.env)
        if data.get("enabled") is False:
            extra.append(ServerDisabled(name=name))
        await self._append_new(name, [event, *extra], actor)
        if event.code is not None:
            self._materialize(name, event.code)
        return await self._after_change(name, discover)

    async def credentials_events(
        self, name: str, values: Mapping[str, str], env: Iterable[EnvVarSpec]
    ) -> list[Any]:
        return list(self.credentials.set_many(name, values, env)) if values else []

    async def update(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        actor: str = "user",
        discover: bool = True,
        expected_version: int | None = None,
    ) -> ServerView:
        """Replace a server's code (dynamic) or config (external), description, variables.

        Variables are re-detected from new code; declared ones (and sensitivity overrides)
        given before are kept unless ``env``/``sensitivity`` replace them.
        """
        srv = await self.q.server(name)
        unknown = set(data) - UPDATE_FIELDS
        if unknown:
            raise InvalidInput(
                f"unknown server fields {sorted(unknown)}; "
                f"valid: {', '.join(sorted(UPDATE_FIELDS))}"
            )
        if not data:
            raise InvalidInput("nothing to update: give code, config, description or env")
        if srv.kind == "builtin":
            raise InvalidInput(
                f"{name!r} is a built-in server: it can be enabled or disabled, not edited"
            )
        description = (
            srv.description if "description" not in data else description_text(data["description"])
        )
        previous = {e.name: e for e in srv.env}
        declared = (
            declared_env(data["env"])
            if data.get("env") is not None
            else tuple(e for e in srv.env if AUTO_DESCRIPTION not in e.description)
        )
        sens = sensitivity_overrides(data.get("sensitivity"))
        if srv.kind == "dynamic":
            if "config" in data:
                raise InvalidInput("a Python server has code, not config", field="config")
            source = data.get("code", srv.code)
            code, env = analyse_input(source, declared, sens)
            env = keep_sensitivity(env, previous, sens, declared)
            event = ServerUpdated(name=name, description=description, code=code, env=env)
        else:
            if "code" in data:
                raise InvalidInput("an external server has config, not code", field="code")
            raw = data.get("config", srv.config)
            ext = external_input(name, raw, description, declared, sens, check_name=False)
            if ext.secrets:
                raise InvalidInput(
                    "the config holds literal secrets ("
                    + ", ".join(sorted(ext.secrets))
                    + "); use ${VAR} placeholders and set the values as credentials",
                    field="config",
                )
            env = keep_sensitivity(ext.env, previous, sens, declared)
            event = ServerUpdated(name=name, description=description, config=ext.config, env=env)
        version = await self.store.stream_version(server_stream(name))
        if expected_version is not None and expected_version != version:
            raise Conflict(f"server {name!r} changed since you read it; reload and try again")
        try:
            await self.store.append(
                server_stream(name), [event], expected=version, meta=Meta(actor=actor)
            )
        except ConcurrencyError:
            raise Conflict(f"server {name!r} changed while updating; try again") from None
        if event.code is not None:
            self._materialize(name, event.code)
        return await self._after_change(name, discover)

    async def delete(self, name: str, *, actor: str = "user", cascade: bool = False) -> None:
        """Delete a dynamic or external server with its files and credentials. Refused (naming
        them) while jobs or webhooks use it, unless *cascade* removes it from them first."""
        srv = await self.q.server(name)
        if srv.kind == "builtin":
            raise InvalidInput(f"{name!r} is a built-in server: disable it instead of deleting it")
        users = await users_of(self.q, name)
        if not cascade:
            refuse_if_used(name, users)
        elif users:
            await detach(self.store, self.q, self.credentials.box, name, users, actor=actor)
        await self._append(name, [ServerDeleted(name=name)], actor)
        remove_server(self.data_dir, name)

    async def _registered(self, name: str) -> ServerView:
        """The server; a shipped one not registered yet (no service ran) is registered now."""
        try:
            return await self.q.server(name)
        except NotFound:
            if name not in BUILTIN_SERVERS:
                raise
            await self.seed_builtins()
            return await self.q.server(name)

    async def enable(self, name: str, *, actor: str = "user") -> ServerView:
        srv = await self._registered(name)
        if not srv.enabled:
            await self._append(name, [ServerEnabled(name=name)], actor)
        return await self.q.server(name)

    async def disable(self, name: str, *, actor: str = "user") -> ServerView:
        srv = await self._registered(name)
        if srv.enabled:
            await self._append(name, [ServerDisabled(name=name)], actor)
        return await self.q.server(name)

    async def seed_builtins(self, *, actor: str = "system") -> list[str]:
        """Register every shipped server once (``expected="no_stream"``): a restart or a second
        process never re-registers it, so a disabled built-in stays disabled."""
        added = []
        for spec in BUILTIN_SERVERS.values():
            event = ServerCreated(
                name=spec.name, kind="builtin", description=spec.description, env=spec.env
            )
            try:
                await self.store.append(
                    server_stream(spec.name), [event], expected="no_stream", meta=Meta(actor=actor)
                )
            except ConcurrencyError:
                continue
            added.append(spec.name)
        return added

    # -- credentials (delegated) -------------------------------------------------------------

    async def set_credential(
        self,
        server: str,
        variable: str,
        value: object,
        *,
        sensitive: bool | None = None,
        actor: str = "user",
    ) -> CredentialInfo:
        await self._registered(server)
        info = await self.credentials.set(server, variable, value, sensitive=sensitive, actor=actor)
        await self._rediscover_if_failing(server)
        return info

    async def delete_credential(self, server: str, variable: str, *, actor: str = "user") -> None:
        await self.credentials.delete(server, variable, actor=actor)

    async def _append_new(self, name: str, events: list[Any], actor: str) -> None:
        """Append a new server's first events; a name in use (or reserved) is a Conflict."""
        stream = server_stream(name)
        if name in await self.q.known_servers():
            raise Conflict(f"a server named {name!r} already exists", field="name")
        version = await self.store.stream_version(stream)
        expected: int | str = "no_stream" if version < 0 else version
        try:
            await self.store.append(stream, events, expected=expected, meta=Meta(actor=actor))  # type: ignore[arg-type]
        except ConcurrencyError:
            raise Conflict(f"a server named {name!r} already exists", field="name") from None

    async def _append(self, name: str, events: list[Any], actor: str) -> None:
        await self.store.append(server_stream(name), events, meta=Meta(actor=actor))

    async def _after_change(self, name: str, discover: bool) -> ServerView:
        if discover:
            if self.auto_discovery:
                await self._wait_for_discovery(name)
            else:
                return await self.discover(name)
        return await self.q.server(name)

    async def _rediscover_if_failing(self, name: str) -> None:
        srv = await self.q.server(name)
        if self.auto_discovery:
            return  # the materializer re-discovers on every credential change
        if srv.start_error is not None or (srv.kind == "external" and not srv.tools):
            await self.discover(name)
