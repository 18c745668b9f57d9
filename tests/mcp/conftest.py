"""Fixtures for the MCP tests: anyio on asyncio, a Runner on a temporary data directory, and for
the OAuth tests a served /mcp with an HTTP client and a signed-in browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from runner.app import Runner
from tests.helpers import open_runner
from tests.mcp.oauth_helpers import Browser, Served, serve


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data") as r:
        yield r


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve(tmp_path / "data") as s:
        yield s


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=served.base, timeout=30) as c:
        yield c


@pytest.fixture
async def browser(served: Served) -> AsyncIterator[Browser]:
    b = Browser(served.base)
    await b.login()
    yield b
    await b.aclose()
