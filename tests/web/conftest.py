"""Fixtures: a Runner on a temporary data dir and the web app with a signed-in client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from runner.app import Runner
from tests.helpers import open_runner
from tests.web.support import PASSWORD, Client
from web.app import create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with its production cost takes ~0.3 s per hash; tests only need the behaviour."""
    import runner.access

    monkeypatch.setattr(runner.access, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data", admin_password=PASSWORD) as r:
        yield r


@pytest.fixture
async def app(runner: Runner) -> AsyncIterator[Any]:
    quart = create_app(runner)
    async with quart.test_app() as test_app:
        yield test_app


@pytest.fixture
async def anon(app: Any) -> Client:
    return Client(app.test_client())


@pytest.fixture
async def client(app: Any) -> Client:
    c = Client(app.test_client())
    resp = await c.login()
    assert resp.status_code == 302
    return c
