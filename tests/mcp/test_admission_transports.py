"""Over both real transports (stdio subprocess, HTTP with an OAuth token), with a real claimer
deciding: ``trigger_job`` reports a claim and an overlap skip instead of "requested", and stdio
and HTTP show the same public origin in every URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from actors.claimer import Claimer
from projections import RunView
from runner.app import Runner
from tests.helpers import open_runner
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
from tests.mcp.scenario import ok
from tests.mcp.test_stdio import stdio_params

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def claiming(runner: Runner) -> AsyncIterator[None]:
    """A claimer on *runner*'s log (no executor: a claimed run stays busy, which is what an
    overlap needs)."""
    send, receive = anyio.create_memory_object_stream[RunView](100)
    async with anyio.create_task_group() as tg, send, receive:
        tg.start_soon(Claimer(runner.store, "test-claimer", send).run)
        yield
        tg.cancel_scope.cancel()


@asynccontextmanager
async def http_client(served: Served) -> AsyncIterator[Client]:
    """An MCP client over streamable HTTP with a token from the real OAuth flow."""
    browser = Browser(served.base)
    await browser.login()
    async with httpx2.AsyncClient(base_url=served.base, timeout=30) as http:
        client = (await register(http)).json()
        verifier, challenge = pkce()
        landed = await browser.consent(authorize_url(served, client["client_id"], challenge))
        tokens = await token_request(
            http,
            client,
            grant_type="authorization_code",
            code=query(landed)["code"],
            redirect_uri=CLAUDE_CALLBACK,
            code_verifier=verifier,
        )
        assert tokens.status_code == 200, tokens.text
        bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    await browser.aclose()
    async with (
        httpx2.AsyncClient(headers=bearer, timeout=30) as authed,
        Client(streamable_http_client(served.resource, http_client=authed), mode="legacy") as c,
    ):
        yield c


async def check_claim_then_skip(c: Client) -> None:
    job = (await ok(c, "create_job", {"name": "nightly", "prompt": "p", "overlap": "skip"}))["job"]
    first = await ok(c, "trigger_job", {"job_id": "nightly", "wait_seconds": 10})
    assert first["admission"]["decision"] == "claimed", first["admission"]
    assert first["state"] == "claimed"
    second = await ok(c, "trigger_job", {"job_id": job["job_id"], "wait_seconds": 10})
    decided = second["admission"]
    assert second["state"] == "skipped"
    assert decided["decision"] == "skipped" and decided["reason"] == "overlap", decided
    assert first["run_id"] in decided["detail"] and "will not start" in decided["detail"]
    # the skip was decided after the request, yet the tool did not answer "requested"
    assert decided["waited_seconds"] < 10


async def test_trigger_reports_claim_and_skip_over_http(tmp_path: Path) -> None:
    async with (
        serve(tmp_path / "data") as served,
        claiming(served.runner),
        http_client(served) as c,
    ):
        await check_claim_then_skip(c)
        health = await ok(c, "get_health")
        assert health["public_url"] == served.base


async def test_trigger_reports_claim_and_skip_over_stdio(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with (
        open_runner(data) as runner,
        claiming(runner),  # another process decides
        Client(stdio_params(data), mode="legacy") as c,
    ):
        await check_claim_then_skip(c)


async def test_stdio_and_http_show_the_same_origin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with serve(data) as served, http_client(served) as c:
        made = await ok(c, "create_webhook", {"name": "gh", "prompt_template": "{{payload}}"})
        over_http = await ok(c, "get_webhook", {"webhook_id": "gh"})
        port = served.base.rsplit(":", 1)[1]
        params = stdio_params(data)
        params.env = {**(params.env or {}), "RUNNER_PORT": port}
        async with Client(params, mode="legacy") as stdio:
            over_stdio = await ok(stdio, "get_webhook", {"webhook_id": "gh"})
            health = await ok(stdio, "get_health")
    assert over_stdio["url"] == over_http["url"]
    assert over_http["url"].startswith(served.base + "/hooks/" + made["webhook_id"])
    assert health["public_url"] == served.base


async def test_public_url_setting_is_the_origin_over_stdio(tmp_path: Path) -> None:
    params = stdio_params(tmp_path / "data")
    params.env = {**(params.env or {}), "RUNNER_PUBLIC_URL": "https://runner.example.com/"}
    async with Client(params, mode="legacy") as c:
        made = await ok(c, "create_webhook", {"name": "gh", "prompt_template": "{{payload}}"})
        assert made["url"].startswith("https://runner.example.com/hooks/")
        health = await ok(c, "get_health")
        assert health["public_url"] == "https://runner.example.com"
        assert health["public_url_source"].startswith("RUNNER_PUBLIC_URL")
