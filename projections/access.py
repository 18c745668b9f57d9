"""Who may get in: the admin account, API tokens, OAuth clients, codes and tokens (all hashed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from events.envelope import Recorded
from events.oauth_consent import OAuthClientPruned, OAuthConsentDecided, OAuthConsentRequested
from events.system import (
    AdminCreated,
    AdminPasswordChanged,
    ApiTokenCreated,
    ApiTokenRevoked,
    OAuthClientRegistered,
    OAuthCodeIssued,
    OAuthCodeRedeemed,
    OAuthTokenRevoked,
    OAuthTokensIssued,
)
from projections.base import Change, Table, View, simple_projection


class AdminView(msgspec.Struct, frozen=True, kw_only=True):
    username: str
    password_hash: str
    updated_at_us: int


class ApiTokenView(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    name: str
    token_hash: str
    created_at_us: int
    revoked_at_us: int | None = None


class OAuthClientView(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    client_info: dict[str, Any]
    secret_hash: str | None
    registered_at_us: int


class OAuthCodeView(msgspec.Struct, frozen=True, kw_only=True):
    code_hash: str
    client_id: str
    data: dict[str, Any]
    expires_at: float
    redeemed: bool = False


class OAuthTokenView(msgspec.Struct, frozen=True, kw_only=True):
    token_hash: str
    kind: str
    client_id: str
    scopes: tuple[str, ...]
    subject: str
    resource: str | None
    expires_at: float | None
    pair: str | None = None
    revoked: bool = False


ADMINS = Table(name="v_admins", row_type=AdminView)
API_TOKENS = Table(
    name="v_api_tokens",
    row_type=ApiTokenView,
    columns=(("token_hash", "TEXT"),),
    extract=lambda r: (r.token_hash,),
    indexes=("token_hash",),
)
OAUTH_CLIENTS = Table(name="v_oauth_clients", row_type=OAuthClientView)
OAUTH_CODES = Table(name="v_oauth_codes", row_type=OAuthCodeView)
OAUTH_TOKENS = Table(name="v_oauth_tokens", row_type=OAuthTokenView)


class OAuthConsentView(msgspec.Struct, frozen=True, kw_only=True):
    txn_hash: str
    client_id: str
    client_name: str
    params: dict[str, Any]
    expires_at: float


OAUTH_CONSENTS = Table(name="v_oauth_consents", row_type=OAuthConsentView)


def _handle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    now = rec.recorded_at_us
    match ev:
        case AdminCreated() | AdminPasswordChanged():
            yield (
                ADMINS.name,
                ev.username,
                AdminView(username=ev.username, password_hash=ev.password_hash, updated_at_us=now),
            )
        case ApiTokenCreated():
            yield (
                API_TOKENS.name,
                ev.token_id,
                ApiTokenView(
                    token_id=ev.token_id, name=ev.name, token_hash=ev.token_hash, created_at_us=now
                ),
            )
        case ApiTokenRevoked():
            tok: ApiTokenView | None = view.get(API_TOKENS.name, ev.token_id)
            if tok is not None:
                yield (
                    API_TOKENS.name,
                    ev.token_id,
                    msgspec.structs.replace(tok, revoked_at_us=now),
                )
        case OAuthClientRegistered():
            yield (
                OAUTH_CLIENTS.name,
                ev.client_id,
                OAuthClientView(
                    client_id=ev.client_id,
                    client_info=ev.client_info,
                    secret_hash=ev.secret_hash,
                    registered_at_us=now,
                ),
            )
        case OAuthCodeIssued():
            yield (
                OAUTH_CODES.name,
                ev.code_hash,
                OAuthCodeView(
                    code_hash=ev.code_hash,
                    client_id=ev.client_id,
                    data=ev.data,
                    expires_at=ev.expires_at,
                ),
            )
        case OAuthCodeRedeemed():
            code: OAuthCodeView | None = view.get(OAUTH_CODES.name, ev.code_hash)
            if code is not None:
                yield (OAUTH_CODES.name, ev.code_hash, msgspec.structs.replace(code, redeemed=True))
        case OAuthTokensIssued():
            issued: list[tuple[str, str, float | None, str | None]] = [
                ("access", ev.access_hash, ev.access_expires_at, ev.refresh_hash)
            ]
            if ev.refresh_hash:
                issued.append(("refresh", ev.refresh_hash, ev.refresh_expires_at, ev.access_hash))
            for kind, token_hash, expires_at, pair in issued:
                row = OAuthTokenView(
                    token_hash=token_hash,
                    kind=kind,
                    client_id=ev.client_id,
                    scopes=ev.scopes,
                    subject=ev.subject,
                    resource=ev.resource,
                    expires_at=expires_at,
                    pair=pair,
                )
                yield (OAUTH_TOKENS.name, token_hash, row)
            if ev.replaces_refresh_hash:
                yield from _revoke(view, ev.replaces_refresh_hash)
        case OAuthConsentRequested():
            yield (
                OAUTH_CONSENTS.name,
                ev.txn_hash,
                OAuthConsentView(txn_hash=ev.txn_hash, client_id=ev.client_id,
                                 client_name=ev.client_name, params=ev.params,
                                 expires_at=ev.expires_at),
            )  # fmt: skip
        case OAuthConsentDecided():
            yield (OAUTH_CONSENTS.name, ev.txn_hash, None)  # decided once, then gone
        case OAuthClientPruned():
            yield (OAUTH_CLIENTS.name, ev.client_id, None)
        case OAuthTokenRevoked():
            tokv: OAuthTokenView | None = view.get(OAUTH_TOKENS.name, ev.token_hash)
            yield from _revoke(view, ev.token_hash)
            if tokv is not None and tokv.pair:
                yield from _revoke(view, tokv.pair)


def _revoke(view: View, token_hash: str) -> Iterable[Change]:
    """Mark a stored token revoked (nothing when it is unknown)."""
    token: OAuthTokenView | None = view.get(OAUTH_TOKENS.name, token_hash)
    if token is not None:
        yield (OAUTH_TOKENS.name, token_hash, msgspec.structs.replace(token, revoked=True))


access_projection = simple_projection(
    "access",
    (ADMINS, API_TOKENS, OAUTH_CLIENTS, OAUTH_CODES, OAUTH_TOKENS, OAUTH_CONSENTS),
    {
        t: _handle
        for t in (
            AdminCreated,
            AdminPasswordChanged,
            ApiTokenCreated,
            ApiTokenRevoked,
            OAuthClientRegistered,
            OAuthCodeIssued,
            OAuthCodeRedeemed,
            OAuthTokensIssued,
            OAuthTokenRevoked,
            OAuthConsentRequested,
            OAuthConsentDecided,
            OAuthClientPruned,
        )
    },
)
