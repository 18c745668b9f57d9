"""Tool-server and credential events: user-built, built-in and external MCP servers."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from events.webhooks import SealedSecret

ServerKind = Literal["dynamic", "builtin", "external"]


class EnvVarSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    required: bool = True
    sensitive: bool = False


class ToolInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    input_schema: dict[str, Any] = {}


class ServerCreated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str
    kind: ServerKind
    description: str = ""
    code: str | None = None
    config: dict[str, Any] | None = None
    env: tuple[EnvVarSpec, ...] = ()


class ServerUpdated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str
    description: str = ""
    code: str | None = None
    config: dict[str, Any] | None = None
    env: tuple[EnvVarSpec, ...] = ()


class ServerEnabled(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str


class ServerDisabled(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str


class ServerDeleted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str


class ServerToolsDiscovered(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str
    tools: tuple[ToolInfo, ...]


class ServerStartFailed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    name: str
    error: str


class ToolInvoked(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    server: str
    tool: str
    ok: bool
    duration_ms: int
    summary: str = ""


class CredentialSet(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    server: str
    variable: str
    secret: SealedSecret
    sensitive: bool = True


class CredentialDeleted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    server: str
    variable: str


class SecretKeyRotated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    old_key_id: str
    new_key_id: str
    resealed: int


ServerEvent = (
    ServerCreated
    | ServerUpdated
    | ServerEnabled
    | ServerDisabled
    | ServerDeleted
    | ServerToolsDiscovered
    | ServerStartFailed
    | ToolInvoked
    | CredentialSet
    | CredentialDeleted
    | SecretKeyRotated
)
