"""The servers page and /api/v1/servers over the server commands: status, masking, CSRF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runner.app import Runner
from tests.helpers import open_runner
from tests.web.support import PASSWORD, Client
from web.app import create_app

pytestmark = pytest.mark.anyio

SECRET = "page-token-SECRET-abcdefgh-7777"
CODE = '''
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("poster")

@mcp.tool()
def post(message: str) -> str:
    """Post a message."""
    return "posted with " + os.environ.get("PAGE_TOKEN")

mcp.run("stdio")
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data", admin_password=PASSWORD) as r:
        await r.servers.seed_builtins()
        yield r


@pytest.fixture
async def client(runner: Runner) -> AsyncIterator[Client]:
    app = create_app(runner)
    async with app.test_app() as test_app:
        c = Client(test_app.test_client())
        assert (await c.login()).status_code == 302
        yield c


async def text(resp: Any) -> str:
    return str(await resp.get_data(as_text=True))


async def test_api_create_credential_invoke_masked(client: Client, runner: Runner) -> None:
    resp = await client.api("POST", "/api/v1/servers", {"name": "poster", "code": CODE})
    assert resp.status_code == 201, await text(resp)
    body = await resp.get_json()
    assert body["status"] == "needs_credentials" and body["tools"][0]["id"] == "mcp__poster__post"
    bad = await client.api("POST", "/api/v1/servers", {"name": "oops", "code": "def (:\n"})
    assert bad.status_code == 422
    assert (await bad.get_json())["error"]["field"] == "code"
    dup = await client.api("POST", "/api/v1/servers", {"name": "poster", "code": CODE})
    assert dup.status_code == 409
    nope = await client.api("PUT", "/api/v1/servers/poster/credentials/NOPE", {"value": "x"})
    assert nope.status_code == 422

    put = await client.api(
        "PUT", "/api/v1/servers/poster/credentials/PAGE_TOKEN", {"value": SECRET}
    )
    assert put.status_code == 200, await text(put)
    assert (await put.get_json())["credential"]["masked"] == "****" + SECRET[-4:]
    seen = []
    for path in (
        "/api/v1/servers",
        "/api/v1/servers/poster?code=1",
        "/api/v1/servers/poster/credentials",
        "/servers",
        "/servers/poster",
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        seen.append(await text(page))
    assert all(SECRET not in s for s in seen)
    assert "****" + SECRET[-4:] in seen[-1] and "ready" in seen[-1]

    inv = await client.api(
        "POST", "/api/v1/servers/poster/tools/post/invoke", {"arguments": {"message": "hi"}}
    )
    assert inv.status_code == 200, await text(inv)
    out = await inv.get_json()
    assert out["result"]["ok"] and SECRET not in await text(inv)
    assert out["result"]["text"].startswith("posted with ****")
    # no CSRF header: refused
    raw = await client.raw.put("/api/v1/servers/poster/credentials/PAGE_TOKEN", json={"value": "x"})
    assert raw.status_code == 403
    dis = await client.api("POST", "/api/v1/servers/email/disable")
    assert (await dis.get_json())["status"] == "disabled"
    gone = await client.api("DELETE", "/api/v1/servers/poster")
    assert gone.status_code == 200
    assert (await client.get("/api/v1/servers/poster")).status_code == 404


async def test_pages_form_credentials_toggle_and_errors(client: Client, runner: Runner) -> None:
    resp = await client.form("/servers", {"name": "poster", "code": CODE, "description": "d"})
    assert resp.status_code == 302
    page = await text(await client.get("/servers/poster"))
    assert "needs credentials" in page and 'name="value:PAGE_TOKEN"' in page
    resp = await client.form("/servers/poster/credentials", {"value:PAGE_TOKEN": SECRET})
    assert resp.status_code == 302
    page = await text(await client.get(resp.headers["Location"]))
    assert SECRET not in page and "****" + SECRET[-4:] in page
    resp = await client.form("/servers/poster/toggle", {})
    assert resp.status_code == 302 and not (await runner.queries.server("poster")).enabled
    bad = await client.form("/servers", {"name": "broken", "code": "x = (\n"})
    assert bad.status_code == 422 and "line 1" in await text(bad)
    assert not (runner.config.data_dir / "servers" / "broken").exists()
    no_csrf = await client.raw.post("/servers/poster/toggle", form={})
    assert no_csrf.status_code == 403
    resp = await client.form("/servers/poster/credentials/PAGE_TOKEN/delete", {})
    assert resp.status_code == 302 and await runner.queries.credentials("poster") == []
    listing = await text(await client.get("/servers"))
    assert "email" in listing and "memory" in listing and "poster" in listing
