"""Service-level events: settings, actors, access (admin, API tokens, OAuth)."""

from __future__ import annotations

from typing import Any

import msgspec


class SettingsChanged(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    changes: dict[str, Any]


class ServiceStarted(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    instance: str
    pid: int
    version: str


class ServiceStopped(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    instance: str
    reason: str = ""


class ActorCrashed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    instance: str
    actor: str
    error: str
    restart_in_seconds: float


class AdminCreated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    username: str
    password_hash: str


class AdminPasswordChanged(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    username: str
    password_hash: str


class ApiTokenCreated(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    token_id: str
    name: str
    token_hash: str


class ApiTokenRevoked(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    token_id: str


class OAuthClientRegistered(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    client_info: dict[str, Any]
    secret_hash: str | None = None


class OAuthCodeIssued(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    code_hash: str
    data: dict[str, Any]
    expires_at: float


class OAuthCodeRedeemed(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    code_hash: str


class OAuthTokensIssued(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    access_hash: str
    refresh_hash: str | None
    scopes: tuple[str, ...]
    subject: str
    resource: str | None
    access_expires_at: float
    refresh_expires_at: float | None = None
    replaces_refresh_hash: str | None = None


class OAuthTokenRevoked(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    client_id: str
    token_hash: str


SystemEvent = (
    SettingsChanged
    | ServiceStarted
    | ServiceStopped
    | ActorCrashed
    | AdminCreated
    | AdminPasswordChanged
    | ApiTokenCreated
    | ApiTokenRevoked
    | OAuthClientRegistered
    | OAuthCodeIssued
    | OAuthCodeRedeemed
    | OAuthTokensIssued
    | OAuthTokenRevoked
)
