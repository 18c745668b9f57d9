"""``/mcp`` over streamable HTTP with OAuth 2.1, as an ASGI app for the dashboard's port.

The public URL (``config.public_url``, default ``http://127.0.0.1:<port>``) is the issuer, the
origin of every OAuth endpoint, and ``<public>/mcp`` is the protected resource. The app answers
only the paths in :data:`PATHS` / :data:`PREFIXES`; everything else belongs to the dashboard.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.routes import build_metadata, build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runner.app import Runner
from runner.webhooks.ratelimit import RateLimiter
from web.mcp.oauth import LOOPBACK, SCOPE, RunnerOAuthProvider, provider_for
from web.mcp.oauth_exact import OAuthExact
from web.mcp.server import RunnerMCP, build_mcp

PATHS = frozenset({"/mcp", "/mcp/", "/authorize", "/token", "/register", "/revoke"})
PREFIXES = (
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
)


#: (requests per minute, burst) per client address for the OAuth endpoints anyone can call.
LIMITS = {
    "/register": (10.0, 20),
    "/token": (60.0, 30),
    "/authorize": (60.0, 30),
    "/revoke": (60.0, 30),
}


class AuthRateLimit:
    """Token buckets per client address on the unauthenticated OAuth endpoints (a DCR or token
    endpoint sprayed by a bot would otherwise grow the log without bound); 429 + Retry-After."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.limiter = RateLimiter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limit = LIMITS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is not None:
            client = (scope.get("client") or ("?", 0))[0]
            decision = self.limiter.check(
                f"{scope['path']}|{client}", rate_per_minute=limit[0], burst=limit[1]
            )
            if not decision.allowed:
                response = JSONResponse(
                    {
                        "error": "temporarily_unavailable",
                        "error_description": "too many requests; retry later",
                    },
                    status_code=429,
                    headers={"Retry-After": decision.retry_after_header},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def is_mcp_path(path: str) -> bool:
    """The paths the MCP app owns on the shared port."""
    return path in PATHS or path.startswith(PREFIXES)


def transport_security(public_url: str, *, loopback: bool = False) -> TransportSecuritySettings:
    """Accept the public host (and loopback forms when the public URL is loopback, or with
    ``loopback``: the service's own assistant turns call ``/mcp`` on the loopback address).
    Naming loopback as a Host opens no DNS-rebinding door: a rebound name arrives as itself."""
    parts = urlsplit(public_url)
    host = parts.hostname or "127.0.0.1"
    names = {host, *(LOOPBACK if host in LOOPBACK or loopback else ())}
    hosts: list[str] = []
    for name in sorted(names):
        shown = f"[{name}]" if ":" in name else name
        hosts += [shown, f"{shown}:*"]
    origins = [f"{parts.scheme}://{parts.netloc}"]
    if host in LOOPBACK:  # local browser tools (e.g. an MCP inspector) on any loopback port
        origins += [f"http://{h}" for h in hosts if h.endswith(":*")]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def check_public_url(url: str) -> None:
    """The OAuth issuer must be an origin: https, or http on a loopback address; no path."""
    parts = urlsplit(url)
    example = "e.g. RUNNER_PUBLIC_URL=https://runner.example.com"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public URL {url!r} is not an http(s) URL ({example})")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"public URL {url!r} must be an origin without a path: OAuth and /mcp are served at "
            f"the root of the host ({example})"
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ValueError(
            f"public URL {url!r} must use https (plain http is only allowed on 127.0.0.1 / "
            f"localhost); put a TLS reverse proxy or tunnel in front ({example})"
        )


def auth_settings(provider: RunnerOAuthProvider) -> AuthSettings:
    return AuthSettings(
        issuer_url=AnyHttpUrl(provider.issuer),
        resource_server_url=AnyHttpUrl(provider.resource),
        required_scopes=[SCOPE],
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE]
        ),
        revocation_options=RevocationOptions(enabled=True),
        validate_token_resource=True,
    )


def _aliases(mcp: RunnerMCP, settings: AuthSettings, provider: RunnerOAuthProvider) -> None:
    """Discovery documents some clients probe besides the RFC 8414 / RFC 9728 paths."""
    assert settings.client_registration_options and settings.revocation_options
    meta = build_metadata(
        settings.issuer_url,
        None,
        settings.client_registration_options,
        settings.revocation_options,
    ).model_dump(mode="json", exclude_none=True)
    prm_url = str(build_resource_metadata_url(AnyHttpUrl(provider.resource)))
    prm = {
        "resource": provider.resource,
        "authorization_servers": [provider.issuer],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
    }

    @mcp.custom_route("/.well-known/openid-configuration", methods=["GET"])  # type: ignore[untyped-decorator]
    async def openid(_: Request) -> Response:
        return JSONResponse(meta, headers={"Cache-Control": "public, max-age=3600"})

    if not prm_url.endswith("/.well-known/oauth-protected-resource"):

        @mcp.custom_route(  # type: ignore[untyped-decorator]
            "/.well-known/oauth-protected-resource", methods=["GET"]
        )
        async def prm_root(_: Request) -> Response:
            return JSONResponse(prm, headers={"Cache-Control": "public, max-age=3600"})


def build_http_app(
    runner: Runner, service: Any | None = None, *, public_url: str | None = None
) -> tuple[RunnerMCP, Any]:
    """A fresh MCP server and its Starlette app (its lifespan runs the session manager)."""
    provider = provider_for(runner)
    door = getattr(service, "assistant", None)
    if door is not None:
        provider.assistant = door
    if public_url is not None:
        provider.issuer = public_url.rstrip("/")
        provider.resource = provider.issuer + "/mcp"
    check_public_url(provider.issuer)
    settings = auth_settings(provider)
    mcp = build_mcp(runner, service, auth=settings, auth_server_provider=provider)
    _aliases(mcp, settings, provider)
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=transport_security(provider.issuer, loopback=door is not None),
    )
    exact = OAuthExact(app, issuer=provider.issuer, resource=provider.resource)
    return mcp, AuthRateLimit(exact)
