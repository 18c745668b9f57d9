"""Starting tool servers: the sandboxed launch of one server with its own credentials, tool
discovery (``ServerToolsDiscovered``/``ServerStartFailed``) and one-off tool invocation
(``ToolInvoked``). A mixin of ``ServerCommands`` (runner/commands/servers.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import msgspec

from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.servers import ServerStartFailed, ServerToolsDiscovered, ToolInvoked
from projections import ServerView
from runner.commands.credentials import CredentialCommands, server_stream
from runner.errors import InvalidInput
from runner.queries import Queries
from runner.servers.confine import confined
from runner.servers.discovery import discover_tools
from runner.servers.errors import ServerError
from runner.servers.invoke import invoke_tool
from runner.servers.launch import Launch, MissingCredentials, missing_credentials, server_launch
from runner.servers.materialize import write_server

__all__ = ["ServerProbes"]


class ServerProbes:
    """Launch, discover and invoke (and write a dynamic server's code file); the state is
    ``ServerCommands``'s own."""

    store: Backend
    q: Queries
    data_dir: Path
    credentials: CredentialCommands
    discovery_timeout: float
    invoke_timeout: float
    sandbox_probe: Callable[[], str | None]

    def _materialize(self, name: str, code: str) -> None:
        try:
            write_server(self.data_dir, name, code)
        except OSError:
            pass  # the log holds the code; the materializer writes it at its next sync

    async def launch(self, srv: ServerView, *, server_data: Path | None = None) -> Launch:
        """How to start ``srv`` with exactly its own decrypted credentials, inside its own
        sandbox (raises :class:`SandboxRefused` when it may not start)."""
        creds = await self.credentials.values(srv.name)
        launch = server_launch(
            srv.kind,  # type: ignore[arg-type]
            srv.name,
            data_dir=self.data_dir,
            credentials=creds,
            env=srv.env,
            config=srv.config,
            server_data=server_data,
        )
        mode = (await self.q.settings()).sandbox_mode
        return confined(
            launch,
            kind=srv.kind,  # type: ignore[arg-type]
            data_dir=self.data_dir,
            mode=mode,
            problem=None if mode == "off" else self.sandbox_probe(),
            check=False,
        )

    async def discover(self, name: str) -> ServerView:
        """Start the server, list its tools and record ``ServerToolsDiscovered`` or
        ``ServerStartFailed``. A result made stale by a newer change is dropped."""
        stream = server_stream(name)
        version = await self.store.stream_version(stream)
        srv = await self.q.server(name)
        if srv.kind == "dynamic" and srv.code is not None:
            self._materialize(name, srv.code)
        try:
            launch = await self.launch(srv)
        except MissingCredentials:
            return srv  # shown as "needs credentials"; discovered once they are set
        except ServerError as exc:
            event: Any = ServerStartFailed(name=name, error=str(exc))
        else:
            found = await discover_tools(launch, time_limit=self.discovery_timeout)
            if found.error is not None:
                event = ServerStartFailed(name=name, error=found.error[:8000])
            else:
                event = ServerToolsDiscovered(name=name, tools=found.tools)
        try:
            await self.store.append(stream, [event], expected=version, meta=Meta(actor="discovery"))
        except ConcurrencyError:
            pass  # the server changed meanwhile; that change gets its own discovery
        return await self.q.server(name)

    async def invoke(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        actor: str = "user",
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """Call one tool of an enabled server in its own process with its own credentials;
        records ``ToolInvoked``. Returns ``ok``, ``is_error``, ``text``, ``structured``,
        ``error`` and ``duration_ms`` (the server's secrets redacted)."""
        srv = await self.q.server(server)
        if not srv.enabled:
            raise InvalidInput(f"server {server!r} is disabled; enable it first", field="tool")
        names = [t.name for t in srv.tools]
        if names and tool not in names:
            raise InvalidInput(
                f"server {server!r} has no tool {tool!r}; its tools: {', '.join(names)}",
                field="tool",
            )
        if arguments is not None and not isinstance(arguments, Mapping):
            raise InvalidInput("arguments must be an object", field="arguments")
        creds = await self.credentials.values(server)
        missing = missing_credentials(srv.env, creds)
        if missing:
            raise InvalidInput(
                f"server {server!r} needs credential(s) {', '.join(missing)} before it can run",
                field="tool",
            )
        try:
            launch = await self.launch(srv)
        except ServerError as exc:
            raise InvalidInput(str(exc), field="tool") from None
        limit = min(float(time_limit), 600.0) if time_limit else self.invoke_timeout
        result = await invoke_tool(launch, tool, arguments, time_limit=limit)
        await self.store.append(
            server_stream(server),
            [
                ToolInvoked(
                    server=server,
                    tool=tool,
                    ok=result.ok,
                    duration_ms=result.duration_ms,
                    summary=result.summary(),
                )
            ],
            meta=Meta(actor=actor),
        )
        out: dict[str, Any] = msgspec.to_builtins(result)
        return out

    async def _wait_for_discovery(self, name: str) -> None:
        """Wait (bounded) until the materializer recorded a discovery for the latest change."""
        stream = server_stream(name)
        version = await self.store.stream_version(stream)
        with anyio.move_on_after(self.discovery_timeout + 10):
            while True:
                recs = await self.store.read_stream(stream, from_version=version + 1)
                if any(r.type in ("ServerToolsDiscovered", "ServerStartFailed") for r in recs):
                    return
                srv = await self.q.server(name)
                creds = await self.credentials.values(name) if srv.kind == "external" else {}
                if srv.kind == "external" and missing_credentials(srv.env, creds):
                    return  # nothing to discover until the credentials are set
                await anyio.sleep(0.1)
