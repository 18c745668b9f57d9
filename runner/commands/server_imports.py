"""Registering the MCP servers of a ``.mcp.json`` file or a Claude Code plugin folder.

A mixin of ``ServerCommands``: each imported server goes through the same checks and events as
one registered by hand; literal secrets found in a config become encrypted credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from events.servers import CredentialSet, EnvVarSpec, ServerCreated
from projections import ServerView
from runner.errors import Conflict, InvalidInput
from runner.queries import Queries
from runner.servers.errors import ServerError
from runner.servers.external import ExternalServer, import_mcp_json, import_plugin
from runner.servers.input import MAX_DESCRIPTION, description_text


class _Host(Protocol):
    """What the mixin needs from ``ServerCommands``."""

    q: Queries

    async def credentials_events(
        self, name: str, values: Mapping[str, str], env: Sequence[EnvVarSpec]
    ) -> list[CredentialSet]: ...

    async def _append_new(self, name: str, events: list[Any], actor: str) -> None: ...

    async def _after_change(self, name: str, discover: bool) -> ServerView: ...

    async def _import(
        self, servers: Sequence[ExternalServer], errors: list[str], actor: str
    ) -> dict[str, Any]: ...


class ServerImports:
    async def import_mcp_json(
        self: _Host, source: Path | str | Mapping[str, Any], *, actor: str = "user"
    ) -> dict[str, Any]:
        """Register every server of a ``.mcp.json`` (path or parsed content)."""
        try:
            found = import_mcp_json(source)
        except ServerError as exc:
            raise InvalidInput(str(exc), field="file") from None
        return await self._import(found.servers, list(found.errors), actor)

    async def import_plugin(
        self: _Host, folder: Path | str, *, prefix: str = "", actor: str = "user"
    ) -> dict[str, Any]:
        """Register the MCP servers of a Claude Code plugin folder."""
        try:
            found = import_plugin(folder, prefix=prefix)
        except ServerError as exc:
            raise InvalidInput(str(exc), field="folder") from None
        return await self._import(found.servers, list(found.errors), actor)

    async def _import(
        self: _Host, servers: Sequence[ExternalServer], errors: list[str], actor: str
    ) -> dict[str, Any]:
        created: list[str] = []
        known = await self.q.known_servers()
        for ext in servers:
            if ext.name in known:
                errors.append(f"{ext.source_name}: a server named {ext.name!r} already exists")
                continue
            event = ServerCreated(
                name=ext.name,
                kind="external",
                description=description_text(ext.description[:MAX_DESCRIPTION]),
                config=ext.config,
                env=ext.env,
            )
            extra = await self.credentials_events(ext.name, ext.secrets, ext.env)
            try:
                await self._append_new(ext.name, [event, *extra], actor)
            except Conflict as exc:
                errors.append(f"{ext.source_name}: {exc.message}")
                continue
            created.append(ext.name)
        for name in created:
            await self._after_change(name, True)
        return {"created": created, "errors": errors}
