"""The event-backed OAuth provider on its own: restarts, redirect policy, public URL checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.auth.provider import AuthorizationParams
from mcp.shared.auth import OAuthClientInformationFull

from tests.helpers import open_runner
from web.mcp.http import check_public_url
from web.mcp.oauth import RunnerOAuthProvider, redirect_allowed

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_clients_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cb = "https://claude.com/api/mcp/auth_callback"
    async with open_runner(data, port=8123) as runner:
        p = RunnerOAuthProvider(runner)
        info = OAuthClientInformationFull(
            client_id="c1",
            client_secret="kit-generated",
            redirect_uris=[cb],  # type: ignore[list-item]
            token_endpoint_auth_method="client_secret_post",
            scope="mcp",
        )
        await p.register_client(info)
        secret = info.client_secret
        assert secret and secret != "kit-generated"  # replaced by the derived secret
        consent = await p.authorize(
            info,
            AuthorizationParams(
                state="s",
                scopes=["mcp"],
                code_challenge="x" * 43,
                redirect_uri=cb,  # type: ignore[arg-type]
                redirect_uri_provided_explicitly=True,
            ),
        )
        assert consent.startswith("http://127.0.0.1:8123/oauth/consent?txn=")
        back = await p.approve(consent.split("txn=")[1], subject="admin")
        code = back.split("code=")[1].split("&")[0]
        loaded = await p.load_authorization_code(info, code)
        assert loaded is not None and loaded.resource == "http://127.0.0.1:8123/mcp"
        tokens = await p.exchange_authorization_code(info, loaded)
    async with open_runner(data, port=8123) as runner:
        p = RunnerOAuthProvider(runner)
        client = await p.get_client("c1")
        assert client is not None and client.client_secret == secret
        access = await p.load_access_token(tokens.access_token)
        assert access is not None and access.subject == "admin" and access.client_id == "c1"
        assert await p.load_authorization_code(client, code) is None  # redeemed before
        refresh = await p.load_refresh_token(client, tokens.refresh_token or "")
        assert refresh is not None
        await p.revoke_token(refresh)
        assert await p.load_access_token(tokens.access_token) is None


def test_redirect_policy() -> None:
    extra = ("https://my.example/cb",)
    assert redirect_allowed("https://claude.ai/api/mcp/auth_callback", ())
    assert redirect_allowed("https://claude.com/api/mcp/auth_callback", ())
    assert redirect_allowed("https://my.example/cb", extra)
    assert redirect_allowed("http://127.0.0.1:53682/callback", ())
    assert redirect_allowed("http://localhost:9999/cb", ())
    assert not redirect_allowed("https://claude.ai/api/mcp/other", ())
    assert not redirect_allowed("https://evil.example/cb", extra)
    assert not redirect_allowed("http://evil.example/cb", ())


def test_public_url_must_be_an_https_origin() -> None:
    check_public_url("https://runner.example.com")
    check_public_url("http://127.0.0.1:8080")
    for bad, why in (
        ("https://runner.example.com/runner", "without a path"),
        ("http://runner.example.com", "must use https"),
        ("runner.example.com", r"not an http\(s\) URL"),
    ):
        with pytest.raises(ValueError, match=why):
            check_public_url(bad)


def test_transport_security_follows_the_public_url() -> None:
    from web.mcp.http import transport_security

    public = transport_security("https://runner.example.com")
    assert public.allowed_hosts == ["runner.example.com", "runner.example.com:*"]
    assert public.allowed_origins == ["https://runner.example.com"]
    local = transport_security("http://127.0.0.1:8080")
    assert "127.0.0.1:*" in local.allowed_hosts and "localhost:*" in local.allowed_hosts
    assert "http://127.0.0.1:8080" in local.allowed_origins
