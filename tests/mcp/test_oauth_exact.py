"""OAuth 2.1 exactness, one test per RFC clause touched (real Hypercorn, real kit endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.mcp.oauth_helpers import (
    CLAUDE_CALLBACK,
    Browser,
    Served,
    authorize_url,
    pkce,
    query,
    register,
    serve,
    token_request,
)
from tests.mcp.test_http import _mcp_status

pytestmark = pytest.mark.anyio


async def _code(served: Served, http: httpx2.AsyncClient, browser: Browser,
                client: dict[str, Any] | None = None) -> tuple[dict[str, Any], str, str]:  # fmt: skip
    client = client or (await register(http)).json()
    verifier, challenge = pkce()
    back = await browser.consent(authorize_url(served, client["client_id"], challenge))
    return client, query(back)["code"], verifier


async def test_rfc8707_s2_token_with_a_foreign_resource_is_invalid_target(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    client, code, verifier = await _code(served, http, browser)
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": CLAUDE_CALLBACK}  # fmt: skip
    for foreign in ("https://evil.example/mcp", served.base + "/other"):
        r = await token_request(http, client, resource=foreign, **form)
        assert r.status_code == 400 and r.json()["error"] == "invalid_target", r.text
    ok = await token_request(http, client, resource=served.resource, **form)
    assert ok.status_code == 200, ok.text  # the refused attempts did not spend the code
    tokens = ok.json()
    r = await token_request(
        http,
        client,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        resource="https://evil.example/",
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"


async def test_oauth21_s4_3_1_refresh_reuse_revokes_the_whole_family(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    client, code, verifier = await _code(served, http, browser)
    first = (
        await token_request(
            http,
            client,
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            redirect_uri=CLAUDE_CALLBACK,
        )
    ).json()
    second = (
        await token_request(
            http, client, grant_type="refresh_token", refresh_token=first["refresh_token"]
        )
    ).json()
    third = (
        await token_request(
            http, client, grant_type="refresh_token", refresh_token=second["refresh_token"]
        )
    ).json()
    for t in (first, second, third):
        assert await _mcp_status(http, t["access_token"]) == 200
    # the second refresh token, already rotated out, comes back: a copy exists somewhere
    reuse = await token_request(http, client, grant_type="refresh_token",
                                refresh_token=second["refresh_token"])  # fmt: skip
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    for t in (first, second, third):  # ancestors, the reused one and descendants
        assert await _mcp_status(http, t["access_token"]) == 401
    latest = await token_request(http, client, grant_type="refresh_token",
                                 refresh_token=third["refresh_token"])  # fmt: skip
    assert latest.status_code == 400


async def test_rfc8414_s3_3_and_rfc9728_s3_one_issuer_string(http: httpx2.AsyncClient,
                                                              served: Served) -> None:  # fmt: skip
    asm = (await http.get("/.well-known/oauth-authorization-server")).json()
    oidc = (await http.get("/.well-known/openid-configuration")).json()
    prm = (await http.get("/.well-known/oauth-protected-resource/mcp")).json()
    root = (await http.get("/.well-known/oauth-protected-resource")).json()
    assert asm["issuer"] == served.base  # no trailing-slash drift
    assert oidc["issuer"] == asm["issuer"]
    assert prm["authorization_servers"] == [asm["issuer"]] == root["authorization_servers"]
    assert prm["resource"] == served.resource
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint"):
        assert asm[key].startswith(asm["issuer"] + "/")


async def test_rfc8414_s2_none_is_advertised_and_honoured(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    asm = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert "none" in asm["token_endpoint_auth_methods_supported"]
    public = (await http.post("/register", json={
        "client_name": "Claude Code", "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none", "scope": "mcp"})).json()  # fmt: skip
    assert "client_secret" not in public or not public["client_secret"]
    verifier, challenge = pkce()
    back = await browser.consent(
        authorize_url(
            served, public["client_id"], challenge, redirect="http://127.0.0.1:33418/callback"
        )
    )
    r = await http.post("/token", data={
        "grant_type": "authorization_code", "client_id": public["client_id"],
        "code": query(back)["code"], "code_verifier": verifier,
        "redirect_uri": "http://127.0.0.1:33418/callback"})  # fmt: skip
    assert r.status_code == 200, r.text


async def test_rfc9207_s2_iss_in_every_authorization_response(
    served: Served, http: httpx2.AsyncClient, browser: Browser
) -> None:
    asm = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert asm["authorization_response_iss_parameter_supported"] is True
    client = (await register(http)).json()
    _, challenge = pkce()
    approved = query(await browser.consent(authorize_url(served, client["client_id"], challenge)))
    assert approved["iss"] == asm["issuer"] and approved["code"]
    denied = query(await browser.consent(authorize_url(served, client["client_id"], challenge),
                                         decision="deny"))  # fmt: skip
    assert denied["iss"] == asm["issuer"] and denied["error"] == "access_denied"
    # an error /authorize itself answers (a foreign resource) goes back with iss too
    r = await browser.http.get(
        authorize_url(served, client["client_id"], challenge, resource="https://evil.example/mcp")
    )
    assert r.status_code == 302
    err = query(r.headers["location"])
    assert err["error"] == "invalid_target" and err["iss"] == asm["issuer"]


async def test_pending_consent_survives_a_restart(tmp_path: Path) -> None:
    """The consent request is an event: the page still works after the service restarts."""
    data = tmp_path / "data"
    async with serve(data) as first, httpx2.AsyncClient(base_url=first.base) as http:
        client = (await register(http)).json()
        _, challenge = pkce()
        b = Browser(first.base)
        await b.login()
        r = await b.http.get(authorize_url(first, client["client_id"], challenge))
        consent_url = r.headers["location"]
        await b.aclose()
    port = int(first.base.rsplit(":", 1)[1])
    async with serve(data, public_url=f"http://127.0.0.1:{port}") as second:
        b = Browser(second.base)
        await b.login()
        page = await b.http.get(consent_url.replace(first.base, second.base))
        assert page.status_code == 200 and "Connect" in page.text, page.text[:300]
        await b.aclose()


async def test_stale_registrations_are_pruned(served: Served, http: httpx2.AsyncClient,
                                              browser: Browser) -> None:  # fmt: skip
    from web.mcp.oauth import provider_for

    unused = (await register(http)).json()
    used, _tokens = await _used_client(served, http, browser)
    provider = provider_for(served.runner)
    assert await provider.prune_clients(older_than=-1) == 1  # only the never-used one
    assert await provider.get_client(unused["client_id"]) is None
    assert await provider.get_client(used["client_id"]) is not None
    again = await token_request(http, unused, grant_type="refresh_token", refresh_token="x")
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


async def _used_client(served: Served, http: httpx2.AsyncClient,
                       browser: Browser) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    client, code, verifier = await _code(served, http, browser)
    r = await token_request(http, client, grant_type="authorization_code", code=code,
                            code_verifier=verifier, redirect_uri=CLAUDE_CALLBACK)  # fmt: skip
    return client, r.json()
