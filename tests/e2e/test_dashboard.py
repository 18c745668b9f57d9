"""Dashboard journeys in the system Chromium (headless) against a real server on loopback, a
real Service and the real Claude Code CLI talking to the scripted fake Messages API: sign in,
create a job, run it and watch it stream, kill a run, see the cost on the overview. A screenshot
of each main page goes to ``test-artifacts/``."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.app import Runner
from runner.config import Config
from runner.service import Service
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.web.support import PASSWORD, serving

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    if not HAVE_CHROMIUM:
        pytest.skip("no system Chromium (tests/bootstrap_system.sh installs it)")
    for key, value in (("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), ("DISABLE_TELEMETRY", "1"),
                       ("DISABLE_AUTOUPDATER", "1")):  # fmt: skip
        monkeypatch.setenv(key, value)
    import runner.service as service_mod

    monkeypatch.setattr(service_mod, "load_components", dict)  # the web server is started below
    with FakeAnthropicAPI(default=[Turn([Text("Hello from the **fake** model.")],
                                        input_tokens=1200, output_tokens=300)]) as api:  # fmt: skip
        config = Config(
            data_dir=tmp_path / "data",
            admin_password=PASSWORD,
            auth_env={"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": "test"},
            max_api_retries=1,
        )
        async with Runner.open(config) as runner, anyio.create_task_group() as tg:
            service = Service(runner)
            await tg.start(service.run)
            async with serving(runner, service) as base:
                yield {"base": base, "api": api, "runner": runner}
            tg.cancel_scope.cancel()


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_operator_journey(stack: dict[str, Any]) -> None:
    from playwright.async_api import async_playwright, expect

    base, api, runner = stack["base"], stack["api"], stack["runner"]
    api.script("slow", [Turn([Text(f"Working on step {i}."),
                              ToolUse("Read", {"file_path": "/etc/hostname"})],
                             delay=0.15) for i in range(40)] + [Text("never reached")])  # fmt: skip
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: d.accept())  # the Kill confirmation
        try:
            await page.goto(base + "/")
            await expect(page).to_have_url(re.compile(r"/login\?next=/$"))
            await page.fill("input[name=password]", "wrong")
            await page.click("button[type=submit]")
            await expect(page.locator(".field-error")).to_contain_text("Wrong user or password")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await expect(page.locator("h1")).to_have_text("Overview")

            # Create a job with live cron validation and preview.
            await page.click("text=Jobs")
            await page.click("text=New job")
            await page.fill("input[name=name]", "Morning <b>digest</b>")
            await page.fill("textarea[name=prompt]", "Say hello.")
            await page.fill("#cron", "0 7 * * 1-")
            await expect(page.locator("#cron-preview")).to_contain_text("invalid cron expression")
            await page.fill("#cron", "0 7 * * 1-5")
            await page.fill("#timezone", "Europe/Brussels")
            await expect(page.locator("#cron-preview")).to_contain_text("on weekdays at 07:00")
            await expect(page.locator("#cron-preview li")).to_have_count(3)
            await shot(page, "job-form")
            await page.click("button[type=submit]")
            await expect(page.locator("h1")).to_have_text("Morning <b>digest</b>")
            await page.click("text=Jobs")
            await expect(page.locator("table.jobs")).to_contain_text("on weekdays at 07:00")
            await shot(page, "jobs")

            # Run it now and watch it finish.
            await page.click("table.jobs >> text=Run now")
            await expect(page.locator("#run-state")).to_contain_text("succeeded", timeout=60_000)
            await expect(page.locator("#trace")).to_contain_text("Hello from the fake model.")
            await expect(page.locator("#trace strong")).to_have_text("fake")
            await shot(page, "run")

            # A quick run that streams block by block; kill it mid-way.
            await page.click("text=Quick run")
            await page.fill("textarea[name=prompt]", "[[script:slow]] work slowly")
            await page.check("input[name=tools][value=Read]")
            await page.click("button[type=submit]")
            await expect(page.locator("#trace .blk-text").first).to_contain_text(
                "Working on step", timeout=60_000
            )
            await expect(page.locator("#trace .blk-denied").first).to_be_visible(timeout=20_000)
            await expect(page.locator("#trace .blk-text").nth(2)).to_be_visible(timeout=20_000)
            await shot(page, "live")
            await page.click("#kill")
            await expect(page.locator("#run-state")).to_contain_text("cancelled", timeout=30_000)
            await shot(page, "run-cancelled")

            # The overview shows today's cost of the finished runs.
            await page.click("text=Overview")
            today = page.locator(".stat").first
            await expect(today.locator(".cost")).not_to_have_text("$0.0000")
            await expect(page.locator("svg.chart rect").first).to_be_attached()
            await shot(page, "overview")
            for name, path in (("runs", "/runs"), ("settings", "/settings"),
                               ("events", "/history"), ("quick", "/quick")):  # fmt: skip
                await page.goto(base + path)
                await shot(page, name)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.goto(base + "/")
            await shot(page, "overview-phone")
            health = await (await page.request.get(base + "/api/v1/health")).json()
            assert health["cli"]["found"] and health["auth"] == "api_key"
            assert set(health["actors"]) >= {"scheduler", "claimer", "executor"}
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            await browser.close()
    runs = (await runner.queries.runs()).items
    assert {r.state for r in runs} == {"succeeded", "cancelled"}
    assert sum(r.cost_usd for r in runs) > 0
