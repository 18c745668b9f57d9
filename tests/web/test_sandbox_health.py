"""The health panel and banner say loudly when runs are unconfined or refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.executor_options import ExecutorSettings
from actors.executor_sandbox import sandbox_health
from runner.app import Runner
from tests.web.support import Client
from web.app import create_app

pytestmark = pytest.mark.anyio


class FakeService:
    def __init__(self, sandbox: dict[str, Any]) -> None:
        self.sandbox = sandbox

    def status(self) -> dict[str, Any]:
        return {"actors": {"scheduler": {"alive": True}}, "queue_depth": 0,
                "cli": {"found": True, "path": "/x/claude"}, "auth": "api_key",
                "sandbox": self.sandbox, "database": {"bytes": 1 << 20}}  # fmt: skip


async def _overview(runner: Runner, sandbox: dict[str, Any]) -> str:
    async with create_app(runner, FakeService(sandbox)).test_app() as app:
        c = Client(app.test_client())
        await c.login()
        return str(await (await c.get("/")).get_data(as_text=True))


async def test_mode_off_is_a_permanent_banner(runner: Runner, tmp_path: Path) -> None:
    s = ExecutorSettings(data_dir=tmp_path, sandbox_available=True)
    html = await _overview(runner, sandbox_health(s, "off"))
    assert 'class="banner"' in html and "Sandbox mode is OFF" in html
    assert "mode off" in html


async def test_no_sandbox_says_what_is_refused(runner: Runner, tmp_path: Path) -> None:
    s = ExecutorSettings(data_dir=tmp_path, sandbox_available=False)
    html = await _overview(runner, sandbox_health(s, "auto"))
    assert "No sandbox: runs with tools and user-written tool servers are refused" in html


async def test_a_working_sandbox_shows_no_banner(runner: Runner, tmp_path: Path) -> None:
    s = msgspec.structs.replace(ExecutorSettings(data_dir=tmp_path), sandbox_available=True)
    html = await _overview(runner, sandbox_health(s, "auto"))
    assert 'class="banner"' not in html and "mode auto" in html
