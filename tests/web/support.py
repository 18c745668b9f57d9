"""Helpers for the web tests: a signed-in Quart test client, a real server on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2

from runner.app import Runner
from web.server import run_web

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF meta tag in the page"
    return m.group(1)


class Client:
    """A Quart test client that remembers the CSRF token of its session."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.csrf = ""

    async def login(self, password: str = PASSWORD) -> Any:
        page = await self.raw.get("/login")
        self.csrf = csrf_of(await page.get_data(as_text=True))
        resp = await self.raw.post(
            "/login",
            form={"username": "admin", "password": password, "csrf_token": self.csrf},
        )
        if resp.status_code == 302:
            home = await self.raw.get("/")
            self.csrf = csrf_of(await home.get_data(as_text=True))
        return resp

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.raw.get(path, **kw)

    async def api(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return await self.raw.open(path, method=method, json=json, headers=headers, **kw)

    async def form(self, path: str, data: dict[str, Any]) -> Any:
        return await self.raw.post(path, form={"csrf_token": self.csrf, **data})


@asynccontextmanager
async def serving(runner: Runner, service: Any = None) -> AsyncIterator[str]:
    """``run_web`` on 127.0.0.1 with an ephemeral port; yields the base URL."""
    import msgspec

    runner.config = msgspec.structs.replace(runner.config, host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(run_web, runner, service)
        try:
            yield f"http://{host}:{port}"
        finally:
            tg.cancel_scope.cancel()


async def http_login(http: httpx2.AsyncClient, password: str = PASSWORD) -> str:
    """Sign an httpx client in; returns the session's CSRF token."""
    page = await http.get("/login")
    token = csrf_of(page.text)
    resp = await http.post(
        "/login", data={"username": "admin", "password": password, "csrf_token": token}
    )
    assert resp.status_code == 302, resp.text
    home = await http.get("/")
    return csrf_of(home.text)
