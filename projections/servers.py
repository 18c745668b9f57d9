"""Tool servers (dynamic, built-in, external), their credentials and tool invocations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from events.envelope import Recorded
from events.servers import (
    CredentialDeleted,
    CredentialSet,
    EnvVarSpec,
    ServerCreated,
    ServerDeleted,
    ServerDisabled,
    ServerEnabled,
    ServerStartFailed,
    ServerToolsDiscovered,
    ServerUpdated,
    ToolInfo,
    ToolInvoked,
)
from events.webhooks import SealedSecret
from projections.base import Change, Table, View, simple_projection


class ServerView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str
    description: str = ""
    code: str | None = None
    config: dict[str, Any] | None = None
    env: tuple[EnvVarSpec, ...] = ()
    enabled: bool = True
    tools: tuple[ToolInfo, ...] = ()
    start_error: str | None = None
    created_at_us: int = 0
    updated_at_us: int = 0
    invocations: int = 0


class CredentialView(msgspec.Struct, frozen=True, kw_only=True):
    server: str
    variable: str
    secret: SealedSecret
    sensitive: bool = True
    updated_at_us: int = 0


class InvocationView(msgspec.Struct, frozen=True, kw_only=True):
    server: str
    tool: str
    ok: bool
    duration_ms: int
    summary: str
    position: int
    invoked_at_us: int


SERVERS = Table(
    name="v_servers",
    row_type=ServerView,
    columns=(("kind", "TEXT"), ("enabled", "INTEGER")),
    extract=lambda r: (r.kind, int(r.enabled)),
)
CREDENTIALS = Table(
    name="v_credentials",
    row_type=CredentialView,
    columns=(("server", "TEXT"),),
    extract=lambda r: (r.server,),
    indexes=("server",),
)
INVOCATIONS = Table(
    name="v_tool_invocations",
    row_type=InvocationView,
    columns=(("server", "TEXT"), ("position", "INTEGER")),
    extract=lambda r: (r.server, r.position),
    indexes=("position",),
    memory=False,
)


def credential_key(server: str, variable: str) -> str:
    return f"{server}\x1f{variable}"


def _handle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    now = rec.recorded_at_us
    if isinstance(ev, CredentialSet):
        yield (
            CREDENTIALS.name,
            credential_key(ev.server, ev.variable),
            CredentialView(
                server=ev.server,
                variable=ev.variable,
                secret=ev.secret,
                sensitive=ev.sensitive,
                updated_at_us=now,
            ),
        )
        return
    if isinstance(ev, CredentialDeleted):
        yield (CREDENTIALS.name, credential_key(ev.server, ev.variable), None)
        return
    if isinstance(ev, ServerCreated):
        yield (
            SERVERS.name,
            ev.name,
            ServerView(
                name=ev.name,
                kind=ev.kind,
                description=ev.description,
                code=ev.code,
                config=ev.config,
                env=ev.env,
                created_at_us=now,
                updated_at_us=now,
            ),
        )
        return
    if isinstance(ev, ToolInvoked):
        yield (
            INVOCATIONS.name,
            f"{rec.position:012d}",
            InvocationView(
                server=ev.server,
                tool=ev.tool,
                ok=ev.ok,
                duration_ms=ev.duration_ms,
                summary=ev.summary,
                position=rec.position,
                invoked_at_us=now,
            ),
        )
    if isinstance(ev, ToolInvoked):
        target = ev.server
    elif isinstance(
        ev,
        ServerUpdated
        | ServerEnabled
        | ServerDisabled
        | ServerToolsDiscovered
        | ServerStartFailed
        | ServerDeleted,
    ):
        target = ev.name
    else:
        return
    cur: ServerView | None = view.get(SERVERS.name, target)
    if cur is None:
        return
    match ev:
        case ServerUpdated():
            new = msgspec.structs.replace(
                cur,
                description=ev.description,
                code=ev.code,
                config=ev.config,
                env=ev.env,
                start_error=None,
                updated_at_us=now,
            )
        case ServerEnabled():
            new = msgspec.structs.replace(cur, enabled=True, updated_at_us=now)
        case ServerDisabled():
            new = msgspec.structs.replace(cur, enabled=False, updated_at_us=now)
        case ServerToolsDiscovered():
            new = msgspec.structs.replace(cur, tools=ev.tools, start_error=None)
        case ServerStartFailed():
            new = msgspec.structs.replace(cur, start_error=ev.error)
        case ToolInvoked():
            new = msgspec.structs.replace(cur, invocations=cur.invocations + 1)
        case ServerDeleted():
            yield (SERVERS.name, cur.name, None)
            for key in list(view.keys(CREDENTIALS.name)):
                if key.startswith(cur.name + "\x1f"):
                    yield (CREDENTIALS.name, key, None)
            return
        case _:
            return
    yield (SERVERS.name, cur.name, new)


servers_projection = simple_projection(
    "servers",
    (SERVERS, CREDENTIALS, INVOCATIONS),
    {
        t: _handle
        for t in (
            ServerCreated,
            ServerUpdated,
            ServerEnabled,
            ServerDisabled,
            ServerDeleted,
            ServerToolsDiscovered,
            ServerStartFailed,
            ToolInvoked,
            CredentialSet,
            CredentialDeleted,
        )
    },
)
