"""The assistant in the system Chromium against a real server, Service and Claude Code CLI (the
model is scripted): a user types what they want, the assistant creates the job through the
runner's own MCP tools with the email tool ask-first, and the page shows it; asked to delete it,
the assistant's call waits for approval inline and the user approves it in the conversation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from runner.app import Runner
from runner.config import Config
from runner.service import Service
from tests.e2e.test_dashboard_v2 import ARGS, CHROMIUM, HAVE_CHROMIUM, axe_serious, shot
from tests.fakes.anthropic_api import FakeAnthropicAPI, Step, Text, ToolUse, Turn
from tests.web.support import PASSWORD, serving

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
ASK = "every weekday at 7 research AI news and email me a summary, but let me approve the email"
JOB = {
    "name": "AI news summary",
    "prompt": "Research today's AI news and email a short summary to me.",
    "cron": "0 7 * * 1-5",
    "timezone": "UTC",
    "tools": ["WebSearch", "WebFetch"],
    "mcp_servers": ["email"],
    "ask_first": ["mcp__email__send_email"],
}
# What the user types carries no script marker: the default script is this conversation's.
SCRIPT: list[Step] = [
    Turn([Text("Creating the job."), ToolUse("mcp__runner__create_job", JOB)]),
    Text("Created “AI news summary”: weekdays at 07:00 UTC; each email waits for your approval."),
    Turn([ToolUse("mcp__runner__delete_job", {"job_id": "AI news summary"})]),
    Text("Deleted “AI news summary”."),
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    if not HAVE_CHROMIUM:
        pytest.skip("no system Chromium (tests/bootstrap_system.sh installs it)")
    from playwright.async_api import async_playwright

    mp = pytest.MonkeyPatch()
    for key in (
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        "DISABLE_TELEMETRY",
        "DISABLE_AUTOUPDATER",
    ):
        mp.setenv(key, "1")
    import runner.service as service_mod

    mp.setattr(service_mod, "load_components", dict)
    tmp = tmp_path_factory.mktemp("assistant-journey")
    try:
        with FakeAnthropicAPI(default=SCRIPT) as api:
            config = Config(
                data_dir=tmp / "data",
                admin_password=PASSWORD,
                auth_env={"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": "test"},
                max_api_retries=1,
            )
            async with Runner.open(config) as runner, anyio.create_task_group() as tg:
                service = Service(runner)
                await tg.start(service.run)
                async with serving(runner, service) as base, async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    try:
                        yield {"base": base, "api": api, "runner": runner, "browser": browser}
                    finally:
                        await browser.close()
                tg.cancel_scope.cancel()
    finally:
        mp.undo()


async def test_describe_a_job_in_plain_language_then_approve_a_delete_inline(
    stack: dict[str, Any],
) -> None:
    from playwright.async_api import expect

    runner: Runner = stack["runner"]
    ctx = await stack["browser"].new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    page = await ctx.new_page()
    await page.goto(stack["base"] + "/login")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/$"))
    await page.click("nav >> text=Assistant")
    await expect(page.locator("h1")).to_have_text("Assistant")
    await page.fill("textarea[name=message]", ASK)
    await page.click("button:has-text('Send')")
    await page.wait_for_url(re.compile(r"/assistant/conv_"))
    await expect(page.locator(".msg-user").first).to_contain_text("let me approve the email")
    answer = page.locator(".turn").first.locator(".answer")
    await expect(answer).to_contain_text("Created “AI news summary”", timeout=90_000)
    steps = page.locator(".turn").first.locator(".steps")
    await expect(steps.locator("summary")).to_have_text("1 tool call")
    await expect(steps).to_contain_text("create_job AI news summary")
    job = await runner.queries.job_by_name("AI news summary")
    assert job is not None
    assert job.spec.ask_first == ("mcp__email__send_email",) and job.spec.cron == "0 7 * * 1-5"
    assert not await axe_serious(page)
    await shot(page, "assistant-created")

    # the assistant's own destructive call waits for the user, inline
    await page.fill("textarea[name=message]", "actually, delete that job")
    await page.click("button:has-text('Send')")
    approve = page.locator("#approvals-panel button:has-text('Approve')")
    await expect(approve).to_be_visible(timeout=60_000)
    await expect(page.locator("#approvals-panel")).to_contain_text("mcp__runner__delete_job")
    assert await runner.queries.job_by_name("AI news summary") is not None  # not yet
    await approve.click()
    await expect(page.locator(".turn").nth(1).locator(".answer")).to_contain_text(
        "Deleted", timeout=90_000
    )
    assert await runner.queries.job_by_name("AI news summary") is None
    await expect(page.locator(".turn").nth(1).locator(".steps")).to_contain_text(
        "delete_job AI news summary (approved by admin)"
    )
    await shot(page, "assistant-deleted")
    conversation = page.url
    await ctx.close()

    # both pages are axe-clean and fit a phone
    phone = await stack["browser"].new_context(
        viewport={"width": 390, "height": 844}, bypass_csp=True
    )
    page = await phone.new_page()
    await page.goto(stack["base"] + "/login")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/$"))
    for url in (stack["base"] + "/assistant", conversation):
        await page.goto(url)
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{url} overflows a phone by {wide} px"
        assert not await axe_serious(page), url
    await shot(page, "assistant-phone")
    await phone.close()
