"""/mcp over streamable HTTP with OAuth 2.1: the SDK's own OAuth client end to end, and every
way a token or grant can be refused."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from events.system import OAuthTokensIssued
from runner.secrets import hash_token
from tests.mcp.oauth_helpers import (
    CLAUDE_CALLBACK,
    Browser,
    Served,
    authorize_url,
    pkce,
    query,
    register,
    token_request,
)
from tests.mcp.scenario import exercise, ok

pytestmark = pytest.mark.anyio
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class Storage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def test_sdk_oauth_client_end_to_end(served: Served, browser: Browser) -> None:
    landed: list[str] = []

    async def on_redirect(url: str) -> None:
        landed.append(await browser.consent(url))

    async def on_callback() -> AuthorizationCodeResult:
        q = query(landed[-1])
        # RFC 9207: the SDK checks the advertised iss against the issuer it discovered
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

    storage = Storage()
    auth = OAuthClientProvider(
        server_url=served.resource,
        client_metadata=OAuthClientMetadata(
            client_name="Claude",
            redirect_uris=[CLAUDE_CALLBACK],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="client_secret_post",
            scope="mcp",
        ),
        storage=storage,
        redirect_handler=on_redirect,
        callback_handler=on_callback,
    )
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(streamable_http_client(served.resource, http_client=http), mode="legacy") as c,
    ):
        ids = await exercise(c)
        events = await ok(c, "get_run_events", {"run_id": ids["run_id"]})
        assert events["events"][0]["actor"] == f"mcp:admin@{storage.client.client_id}"  # type: ignore[union-attr]
    assert landed and landed[0].startswith(CLAUDE_CALLBACK)
    assert storage.tokens is not None and storage.tokens.expires_in == 3600
    # nothing usable is stored: only hashes of the code and tokens are in the log
    rows = await served.runner.store.query("SELECT data FROM events")
    blob = b"".join(bytes(r[0]) if not isinstance(r[0], str) else r[0].encode() for r in rows)
    for secret in (
        storage.tokens.access_token,
        storage.tokens.refresh_token,
        query(landed[0])["code"],
    ):
        assert secret and secret.encode() not in blob
    assert storage.client and storage.client.client_secret
    assert storage.client.client_secret.encode() not in blob


async def test_missing_or_invalid_token_gets_401_with_resource_metadata(
    served: Served, http: httpx2.AsyncClient
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        r = await http.post("/mcp", json=INIT, headers={**MCP_HEADERS, **headers})
        assert r.status_code == 401
        www = r.headers["www-authenticate"]
        prm = f"{served.base}/.well-known/oauth-protected-resource/mcp"
        assert f'resource_metadata="{prm}"' in www and 'error="invalid_token"' in www
    meta = (await http.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert meta["resource"] == served.resource
    assert [u.rstrip("/") for u in meta["authorization_servers"]] == [served.base]
    asm = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["registration_endpoint"] == served.base + "/register"
    assert (await http.get("/.well-known/openid-configuration")).json() == asm
    root = (await http.get("/.well-known/oauth-protected-resource")).json()
    assert root["resource"] == served.resource
    # a foreign Host header is refused (DNS rebinding protection from the public URL)
    r = await http.post("/mcp", json=INIT, headers={**MCP_HEADERS, "Host": "evil.example"})
    assert r.status_code in (401, 421)


async def _tokens(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> tuple[dict[str, Any], dict[str, Any]]:
    client = (await register(http)).json()
    verifier, challenge = pkce()
    back = await browser.consent(authorize_url(served, client["client_id"], challenge))
    q = query(back)
    assert q["state"] == "st-1"
    r = await token_request(
        http,
        client,
        grant_type="authorization_code",
        code=q["code"],
        code_verifier=verifier,
        redirect_uri=CLAUDE_CALLBACK,
    )
    assert r.status_code == 200, r.text
    return client, r.json()


async def _mcp_status(http: httpx2.AsyncClient, access: str) -> int:
    r = await http.post(
        "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {access}"}
    )
    return r.status_code


async def test_code_reuse_and_refresh_rotation_and_revocation(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    client = (await register(http)).json()
    verifier, challenge = pkce()
    q = query(await browser.consent(authorize_url(served, client["client_id"], challenge)))
    form = {
        "grant_type": "authorization_code",
        "code": q["code"],
        "redirect_uri": CLAUDE_CALLBACK,
    }
    wrong = await token_request(http, client, code_verifier=pkce()[0], **form)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    first = await token_request(http, client, code_verifier=verifier, **form)
    assert first.status_code == 200
    again = await token_request(http, client, code_verifier=verifier, **form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    tokens = first.json()
    assert await _mcp_status(http, tokens["access_token"]) == 200
    # refresh rotates: the new pair works, the old refresh token does not
    rotated = await token_request(
        http, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    replay = await token_request(
        http, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # ... and that reuse revokes what was issued from it since (someone holds a copy)
    assert await _mcp_status(http, new["access_token"]) == 401
    stolen = await token_request(
        http, client, grant_type="refresh_token", refresh_token=new["refresh_token"]
    )
    assert stolen.status_code == 400
    client, new = await _tokens(served, http, browser)
    # revoking the refresh token revokes its access token too
    r = await http.post(
        "/revoke",
        data={
            "token": new["refresh_token"],
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert r.status_code == 200
    assert await _mcp_status(http, new["access_token"]) == 401
    revoked = await token_request(
        http, client, grant_type="refresh_token", refresh_token=new["refresh_token"]
    )
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"
    # a wrong client secret is invalid_client (claude.ai then registers again)
    bad = await token_request(
        http,
        {**client, "client_secret": "nope"},
        grant_type="refresh_token",
        refresh_token=new["refresh_token"],
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


async def test_expired_and_wrong_audience_tokens_are_refused(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    client, tokens = await _tokens(served, http, browser)
    assert await _mcp_status(http, tokens["access_token"]) == 200
    now = time.time()
    for access, resource, expires in (
        ("expired-token", served.resource, now - 1),
        ("other-audience", "https://other.example/mcp", now + 3600),
    ):
        await served.runner.store.append(
            f"oauth-{client['client_id']}",
            [
                OAuthTokensIssued(
                    client_id=client["client_id"],
                    access_hash=hash_token(access),
                    refresh_hash=None,
                    scopes=("mcp",),
                    subject="admin",
                    resource=resource,
                    access_expires_at=expires,
                )
            ],
        )
        assert await _mcp_status(http, access) == 401, access
    # the authorization server refuses to mint a token for another resource
    _verifier, challenge = pkce()
    url = authorize_url(
        served, client["client_id"], challenge, resource="https://other.example/mcp"
    )
    r = await browser.http.get(url)
    assert r.status_code == 302 and query(r.headers["location"])["error"] == "invalid_target"


async def test_registration_is_rate_limited(http: httpx2.AsyncClient) -> None:
    codes = [(await register(http)).status_code for _ in range(22)]
    assert codes[:20] == [201] * 20 and codes[-1] == 429


async def test_plain_pkce_unregistered_redirects_and_denial(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    bad = await register(http, "https://evil.example/callback")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri"
    client = (await register(http)).json()
    verifier, _ = pkce()
    plain = authorize_url(served, client["client_id"], verifier, method="plain")
    r = await browser.http.get(plain)
    assert r.status_code == 302
    assert query(r.headers["location"])["error"] == "invalid_request"
    other = authorize_url(
        served, client["client_id"], pkce()[1], redirect="https://claude.com/api/mcp/auth_callback"
    )
    r = await browser.http.get(other)  # allowed in general, but not registered by this client
    assert r.status_code == 400
    denied = await browser.consent(
        authorize_url(served, client["client_id"], pkce()[1]), decision="deny"
    )
    assert query(denied)["error"] == "access_denied" and query(denied)["state"] == "st-1"
    # the consent page needs the admin's session: anonymous browsers are sent to sign in
    anon = Browser(served.base)
    r = await anon.http.get(authorize_url(served, client["client_id"], pkce()[1]))
    page = await anon.http.get(r.headers["location"])
    assert page.status_code in (302, 303) and "/login" in page.headers["location"]
    await anon.aclose()
