"""OAuth 2.1 authorization server for ``/mcp``, backed by events (survives restarts).

The mcp auth kit does the protocol (DCR, ``/authorize`` with PKCE S256, ``/token``, ``/revoke``,
metadata, bearer checks); this provider is storage and policy:

* clients, codes and tokens are events on ``oauth-<client_id>``; codes and tokens are stored as
  SHA-256 hashes only, so the log never holds a usable credential;
* a DCR client's secret is derived (HMAC of the client id under the runner's secret key, kept
  outside the database), so it need not be stored to be checked; its hash is recorded;
* redirect URIs must be claude.ai's or claude.com's callback, a configured extra one, or a
  loopback address (native clients such as Claude Code, RFC 8252);
* ``authorize`` records the request (an event: any process, or a restart, can answer it)
  and sends the browser to the consent page, where the signed-in
  admin approves (``approve``) or denies (``deny``) it;
* access tokens live one hour; refresh tokens rotate on every use, and a rotated-out refresh
  token presented again revokes every token issued from it since (reuse detection).
"""

from __future__ import annotations

import hmac
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from actors.assistant_grants import CLIENT_PREFIX, AssistantDoor
from actors.assistant_grants import TOKEN_PREFIX as ASSISTANT_PREFIX
from events.system import (
    OAuthClientRegistered,
    OAuthCodeRedeemed,
    OAuthTokenRevoked,
    OAuthTokensIssued,
)
from projections import OAuthClientView, OAuthCodeView, OAuthTokenView
from runner.app import Runner
from runner.secrets import hash_token, new_token
from web.mcp.oauth_consent_flow import (
    CLIENT_TTL,
    CODE_TTL,
    CONSENT_PATH,
    CONSENT_TTL,
    SCOPE,
    OAuthConsentFlow,
    Pending,
)

__all__ = [
    "ACCESS_TTL",
    "CLIENT_TTL",
    "CODE_TTL",
    "CONSENT_PATH",
    "CONSENT_TTL",
    "DEFAULT_REDIRECTS",
    "LOOPBACK",
    "REFRESH_TTL",
    "SCOPE",
    "Pending",
    "RunnerOAuthProvider",
    "default_public_url",
    "provider_for",
    "redirect_allowed",
]

ACCESS_TTL = 3600
REFRESH_TTL = 30 * 86400
DEFAULT_REDIRECTS = (
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def default_public_url(runner: Runner) -> str:
    """``config.public_url`` without a trailing slash, else the loopback address and port."""
    return runner.config.public_origin


def redirect_allowed(uri: str, extra: tuple[str, ...]) -> bool:
    """Exact claude.ai/claude.com callbacks, configured extras, or any loopback http URL."""
    if uri in DEFAULT_REDIRECTS or uri in extra:
        return True
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK and not parts.fragment


class RunnerOAuthProvider(OAuthConsentFlow):
    """``OAuthAuthorizationServerProvider`` over the runner's event log."""

    def __init__(self, runner: Runner, *, public_url: str | None = None) -> None:
        self.runner = runner
        self.issuer = (public_url or default_public_url(runner)).rstrip("/")
        self.resource = self.issuer + "/mcp"
        self.extra_redirects = tuple(runner.config.extra_redirect_uris)
        self._lock = anyio.Lock()
        self._key: bytes | None = None
        self.assistant: AssistantDoor | None = None
        """Live credentials of assistant turns (``runner serve``'s; set by ``build_http_app``)."""

    def _client_secret(self, client_id: str) -> str:
        if self._key is None:
            self._key = self.runner.secret_box().keyring.current_key()
        mac = hmac.new(self._key, b"claude-runner/oauth-client/" + client_id.encode(), "sha256")
        return mac.hexdigest()

    # -- clients -------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        row = await self._row(OAuthClientView, "v_oauth_clients", client_id)
        if row is None:
            return None
        info = dict(row.client_info)
        if row.secret_hash is not None:
            secret = self._client_secret(client_id)
            if not hmac.compare_digest(hash_token(secret), row.secret_hash):
                return None  # the secret key changed: the client must register again
            info["client_secret"] = secret
        return OAuthClientInformationFull.model_validate(info)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        uris = [str(u) for u in client_info.redirect_uris or ()]
        bad = [u for u in uris if not redirect_allowed(u, self.extra_redirects)]
        if bad or not uris:
            raise RegistrationError(
                error="invalid_redirect_uri",
                error_description=f"redirect URI(s) not allowed: {', '.join(bad) or '(none)'}; "
                "allowed: "
                + ", ".join((*DEFAULT_REDIRECTS, *self.extra_redirects))
                + ", or a loopback http://127.0.0.1:<port>/... address",
            )
        client_id = client_info.client_id or ""
        secret_hash = None
        if client_info.client_secret is not None:
            # Replace the kit's random secret with the derived one (the response echoes it).
            client_info.client_secret = self._client_secret(client_id)
            secret_hash = hash_token(client_info.client_secret)
        stored = client_info.model_dump(mode="json", exclude={"client_secret"}, exclude_none=True)
        await self.prune_clients()
        await self._append(
            client_id,
            [
                OAuthClientRegistered(
                    client_id=client_id, client_info=stored, secret_hash=secret_hash
                )
            ],
        )

    # -- codes and tokens ----------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        row = await self._row(OAuthCodeView, "v_oauth_codes", hash_token(authorization_code))
        if row is None or row.redeemed or row.client_id != client.client_id:
            return None
        d = row.data
        return AuthorizationCode(
            code=authorization_code,
            scopes=list(d["scopes"]),
            expires_at=row.expires_at,
            client_id=row.client_id,
            code_challenge=d["code_challenge"],
            redirect_uri=d["redirect_uri"],
            redirect_uri_provided_explicitly=bool(d["redirect_uri_provided_explicitly"]),
            resource=d.get("resource"),
            subject=d.get("subject"),
        )

    async def _issue(
        self,
        client_id: str,
        scopes: list[str],
        subject: str,
        resource: str | None,
        first: list[Any],
        replaces: str | None = None,
    ) -> OAuthToken:
        access, refresh = new_token(32), new_token(32)
        now = time.time()
        issued = OAuthTokensIssued(
            client_id=client_id,
            access_hash=hash_token(access),
            refresh_hash=hash_token(refresh),
            scopes=tuple(scopes),
            subject=subject,
            resource=resource,
            access_expires_at=now + ACCESS_TTL,
            refresh_expires_at=now + REFRESH_TTL,
            replaces_refresh_hash=replaces,
        )
        await self._append(client_id, [*first, issued])
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=ACCESS_TTL,
            refresh_token=refresh,
            scope=" ".join(scopes),
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        code_hash = hash_token(authorization_code.code)
        async with self._lock:  # one redemption per code, even for concurrent requests
            row = await self._row(OAuthCodeView, "v_oauth_codes", code_hash)
            if row is None or row.redeemed:
                raise TokenError(error="invalid_grant", error_description="code already used")
            return await self._issue(
                authorization_code.client_id,
                authorization_code.scopes,
                authorization_code.subject or "admin",
                authorization_code.resource or self.resource,
                [OAuthCodeRedeemed(client_id=authorization_code.client_id, code_hash=code_hash)],
            )

    async def _token(self, token: str, kind: str) -> OAuthTokenView | None:
        row = await self._row(OAuthTokenView, "v_oauth_tokens", hash_token(token))
        if row is None or row.kind != kind or row.revoked:
            return None
        if row.expires_at is not None and row.expires_at < time.time():
            return None
        return row

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        row = await self._token(refresh_token, "refresh")
        if row is None:
            await self._reuse_detected(refresh_token)
            return None
        if row.client_id != client.client_id:
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=row.client_id,
            scopes=list(row.scopes),
            expires_at=int(row.expires_at) if row.expires_at else None,
            resource=row.resource,
            subject=row.subject,
        )

    async def _reuse_detected(self, refresh_token: str) -> None:
        """A rotated-out refresh token came back: someone holds a copy (OAuth 2.1 §4.3.1).
        Revoke the whole family of that grant (every refresh token before and after it, each
        with its access token, the reused one's included), so no copy keeps working."""
        old = await self._row(OAuthTokenView, "v_oauth_tokens", hash_token(refresh_token))
        if old is None or old.kind != "refresh" or not old.revoked:
            return
        successors: dict[str, str] = {}
        predecessor: dict[str, str] = {}
        for rec in await self.runner.store.read_stream(f"oauth-{old.client_id}"):
            ev = rec.event
            if isinstance(ev, OAuthTokensIssued) and ev.replaces_refresh_hash and ev.refresh_hash:
                successors[ev.replaces_refresh_hash] = ev.refresh_hash
                predecessor[ev.refresh_hash] = ev.replaces_refresh_hash
        root = old.token_hash
        while root in predecessor and len(predecessor) < 100_000:
            root = predecessor.pop(root)
        family = [root]
        while family[-1] in successors and len(family) < 10_000:
            family.append(successors.pop(family[-1]))
        await self._append(
            old.client_id,
            [OAuthTokenRevoked(client_id=old.client_id, token_hash=h) for h in family],
        )

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: RefreshToken,
        scopes: list[str],
    ) -> OAuthToken:
        async with self._lock:  # rotation: the old refresh token works exactly once
            row = await self._token(refresh_token.token, "refresh")
            if row is None:
                raise TokenError(error="invalid_grant", error_description="refresh token used")
            return await self._issue(
                row.client_id,
                scopes or list(row.scopes),
                row.subject,
                row.resource,
                [],
                replaces=row.token_hash,
            )

    async def load_access_token(self, token: str) -> AccessToken | None:
        if token.startswith(ASSISTANT_PREFIX):  # an assistant turn's own, in memory only
            return self._assistant_token(token)
        row = await self._token(token, "access")
        if row is None:
            return None
        return AccessToken(
            token=token,
            client_id=row.client_id,
            scopes=list(row.scopes),
            expires_at=int(row.expires_at) if row.expires_at else None,
            resource=row.resource,
            subject=row.subject,
            claims={"iss": self.issuer},
        )

    def _assistant_token(self, token: str) -> AccessToken | None:
        grant = self.assistant.find(token) if self.assistant is not None else None
        if grant is None:
            return None
        return AccessToken(
            token=token,
            client_id=CLIENT_PREFIX + grant.conversation_id,
            scopes=[SCOPE],
            expires_at=None,
            resource=self.resource,
            subject=grant.user,
            claims={"iss": self.issuer, "run_id": grant.run_id},
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        await self._append(
            token.client_id,
            [OAuthTokenRevoked(client_id=token.client_id, token_hash=hash_token(token.token))],
        )


_providers: weakref.WeakKeyDictionary[Runner, RunnerOAuthProvider] = weakref.WeakKeyDictionary()


def provider_for(runner: Runner) -> RunnerOAuthProvider:
    """The one provider of this runner in this process (the consent page and /mcp share it)."""
    found = _providers.get(runner)
    if found is None:
        found = _providers[runner] = RunnerOAuthProvider(runner)
    return found
