"""The consent half of the ``/mcp`` OAuth provider: an authorization request recorded as an
event (any process, or a restart, can answer it), the admin's approval (a code) or denial on the
consent page, and the pruning of registered clients that never obtained a token. A base of
``RunnerOAuthProvider`` (web/mcp/oauth.py), with the event-log storage both halves use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio
import msgspec
from mcp.server.auth.provider import AuthorizationParams, AuthorizeError, construct_redirect_uri
from mcp.shared.auth import OAuthClientInformationFull

from events.envelope import Meta
from events.oauth_consent import OAuthClientPruned, OAuthConsentDecided, OAuthConsentRequested
from events.system import OAuthCodeIssued
from projections import OAuthClientView
from projections.access import OAuthConsentView
from projections.queries import access as access_queries
from projections.queries import by_key
from runner.app import Runner
from runner.secrets import hash_token, new_token

__all__ = [
    "CLIENT_TTL",
    "CODE_TTL",
    "CONSENT_PATH",
    "CONSENT_TTL",
    "SCOPE",
    "OAuthConsentFlow",
    "Pending",
]

SCOPE = "mcp"
CODE_TTL = 300
CONSENT_TTL = 600
CLIENT_TTL = 7 * 86400
CONSENT_PATH = "/oauth/consent"
T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    """An authorization request waiting for the admin's decision on the consent page."""

    txn: str
    client_id: str
    client_name: str
    params: AuthorizationParams
    expires_at: float


class OAuthConsentFlow:
    """Authorization requests, consent decisions and client pruning over the event log."""

    runner: Runner
    issuer: str
    resource: str
    _lock: anyio.Lock

    # -- storage -------------------------------------------------------------------------------

    async def _row(self, row_type: type[T], table: str, key: str) -> T | None:
        rows = await self.runner.store.fetch(by_key(table), (key,))
        if not rows:
            return None
        value: T = msgspec.json.decode(rows[0][0], type=row_type)
        return value

    async def _append(self, client_id: str, events: list[Any]) -> None:
        await self.runner.store.append(
            f"oauth-{client_id}", events, meta=Meta(actor=f"oauth:{client_id}")
        )

    # -- authorization and consent -------------------------------------------------------------

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        if params.resource is not None and params.resource.rstrip("/") != self.resource:
            raise AuthorizeError(
                error="invalid_target",
                error_description=f"this server only issues tokens for {self.resource}",
            )
        now = time.time()
        txn = new_token(24)
        await self._append(
            client.client_id or "",
            [
                OAuthConsentRequested(
                    client_id=client.client_id or "",
                    txn_hash=hash_token(txn),
                    client_name=client.client_name or "an unnamed client",
                    params=params.model_dump(mode="json"),
                    expires_at=now + CONSENT_TTL,
                )
            ],
        )
        return f"{self.issuer}{CONSENT_PATH}?{urlencode({'txn': txn})}"

    async def pending(self, txn: str) -> Pending | None:
        """The request behind a consent page, if it has not expired or been decided (read from
        the log's view, so another process or a restart sees it too)."""
        if not txn or len(txn) > 200:
            return None
        row = await self._row(OAuthConsentView, "v_oauth_consents", hash_token(txn))
        if row is None or row.expires_at < time.time():
            return None
        return Pending(
            txn=txn,
            client_id=row.client_id,
            client_name=row.client_name,
            params=AuthorizationParams.model_validate(row.params),
            expires_at=row.expires_at,
        )

    async def approve(self, txn: str, subject: str) -> str:
        """The admin approved: issue a code; returns where to send the browser."""
        async with self._lock:  # one decision per request
            p = await self.pending(txn)
            if p is None:
                raise AuthorizeError(error="access_denied", error_description="request expired")
            code = new_token(32)
            data = {
                "scopes": p.params.scopes or [SCOPE],
                "code_challenge": p.params.code_challenge,
                "redirect_uri": str(p.params.redirect_uri),
                "redirect_uri_provided_explicitly": p.params.redirect_uri_provided_explicitly,
                "resource": p.params.resource or self.resource,
                "subject": subject,
            }
            await self._append(
                p.client_id,
                [
                    OAuthConsentDecided(
                        client_id=p.client_id, txn_hash=hash_token(txn), decision="approved"
                    ),
                    OAuthCodeIssued(
                        client_id=p.client_id,
                        code_hash=hash_token(code),
                        data=data,
                        expires_at=time.time() + CODE_TTL,
                    ),
                ],
            )
        return construct_redirect_uri(
            str(p.params.redirect_uri), code=code, state=p.params.state, iss=self.issuer
        )

    async def deny(self, txn: str) -> str | None:
        """The admin refused: where to send the browser (``error=access_denied``)."""
        async with self._lock:
            p = await self.pending(txn)
            if p is None:
                return None
            await self._append(
                p.client_id,
                [
                    OAuthConsentDecided(
                        client_id=p.client_id, txn_hash=hash_token(txn), decision="denied"
                    )
                ],
            )
        return construct_redirect_uri(
            str(p.params.redirect_uri),
            error="access_denied",
            error_description="the administrator denied access",
            state=p.params.state,
            iss=self.issuer,
        )

    async def prune_clients(self, *, older_than: float = CLIENT_TTL, limit: int = 100) -> int:
        """Forget dynamically registered clients that never obtained a token within
        ``older_than`` seconds (a DCR endpoint anyone can call would otherwise grow forever)."""
        cutoff_us = int((time.time() - older_than) * 1_000_000)
        rows = await self.runner.store.fetch(access_queries.CLIENTS_WITHOUT_TOKENS, (limit * 10,))
        stale = [
            str(k)
            for k, doc in rows
            if msgspec.json.decode(doc, type=OAuthClientView).registered_at_us < cutoff_us
        ][:limit]
        for client_id in stale:
            await self._append(
                client_id, [OAuthClientPruned(client_id=client_id, reason="never used")]
            )
        return len(stale)
