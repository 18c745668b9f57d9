"""Fixtures for the MCP tests: anyio on asyncio and a Runner on a temporary data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.app import Runner
from tests.helpers import open_runner


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data") as r:
        yield r
