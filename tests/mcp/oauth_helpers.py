"""A served runner (dashboard + /mcp on one port) and a scripted admin browser for OAuth tests."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx2

from runner.app import Runner
from tests.helpers import open_runner

PASSWORD = "correct horse battery staple"
CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    runner: Runner
    base: str

    @property
    def resource(self) -> str:
        return self.base + "/mcp"


@asynccontextmanager
async def serve(data_dir: Path, **config: Any) -> AsyncIterator[Served]:
    """``run_web`` (dashboard + /mcp behind one dispatcher) on a free loopback port."""
    from web.server import run_web

    port = free_port()
    async with (
        open_runner(data_dir, port=port, admin_password=PASSWORD, **config) as runner,
        anyio.create_task_group() as tg,
    ):
        await tg.start(run_web, runner, None)
        yield Served(runner, f"http://127.0.0.1:{port}")
        tg.cancel_scope.cancel()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    """The admin's browser: signs in to the dashboard and answers consent pages."""

    def __init__(self, base: str) -> None:
        self.http = httpx2.AsyncClient(base_url=base, follow_redirects=False, timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def login(self) -> None:
        page = await self.http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text[:300]
        r = await self.http.post(
            "/login", data={"csrf_token": token[1], "username": "admin", "password": PASSWORD}
        )
        assert r.status_code in (302, 303), r.text[:300]

    async def consent(self, authorize_url: str, decision: str = "approve") -> str:
        """Follow /authorize to the consent page, answer it; returns the callback URL."""
        r = await self.http.get(authorize_url)
        assert r.status_code == 302, r.text[:300]
        page = await self.http.get(r.headers["location"])
        assert page.status_code == 200, page.text[:300]
        csrf = re.search(r"name='csrf_token' value='([^']+)'", page.text)
        txn = re.search(r"name='txn' value='([^']+)'", page.text)
        assert csrf and txn, page.text[:500]
        r = await self.http.post(
            "/oauth/consent", data={"csrf_token": csrf[1], "txn": txn[1], "decision": decision}
        )
        assert r.status_code in (302, 303), r.text[:300]
        return str(r.headers["location"])


async def register(http: httpx2.AsyncClient, redirect: str = CLAUDE_CALLBACK) -> httpx2.Response:
    return await http.post(
        "/register",
        json={
            "client_name": "Claude",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
            "scope": "mcp",
        },
    )


def authorize_url(
    served: Served,
    client_id: str,
    challenge: str,
    *,
    method: str = "S256",
    redirect: str = CLAUDE_CALLBACK,
    resource: str | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "code_challenge": challenge,
        "code_challenge_method": method,
        "state": "st-1",
        "scope": "mcp",
        "resource": resource or served.resource,
    }
    return f"{served.base}/authorize?{urlencode(params)}"


async def token_request(
    http: httpx2.AsyncClient, client: dict[str, Any], **form: str
) -> httpx2.Response:
    data = {"client_id": client["client_id"], "client_secret": client["client_secret"], **form}
    return await http.post("/token", data=data)
