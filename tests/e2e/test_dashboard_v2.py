"""Dashboard v2 in the system Chromium (headless) against a real server, Service and Claude Code
CLI talking to the scripted fake Messages API: the live run view's facts move during a run, steps
pair call, result and denial; lists move without reload; every page is axe-clean (no serious or
critical violation) and has no horizontal overflow at 390 px; a keyboard-only journey creates a
job, runs it and kills it. Screenshots (desktop + phone) of every page go to a tmp dir
(``RUNNER_SCREENSHOTS`` to choose it)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.app import Runner
from runner.commands.webhooks import for_runner
from runner.config import Config
from runner.service import Service
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.web.support import PASSWORD, serving

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
SHOTS = Path(os.environ.get("RUNNER_SCREENSHOTS") or tempfile.mkdtemp(prefix="runner-shots-"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """One Service + web server + browser for the whole module (fast)."""
    if not HAVE_CHROMIUM:
        pytest.skip("no system Chromium (tests/bootstrap_system.sh installs it)")
    from playwright.async_api import async_playwright

    mp = pytest.MonkeyPatch()
    for key, value in (("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), ("DISABLE_TELEMETRY", "1"),
                       ("DISABLE_AUTOUPDATER", "1")):  # fmt: skip
        mp.setenv(key, value)
    import runner.service as service_mod

    mp.setattr(service_mod, "load_components", dict)
    tmp = tmp_path_factory.mktemp("dash2")
    try:
        with FakeAnthropicAPI(default=[Turn([Text("Hello from the **fake** model.")],
                                            input_tokens=1200, output_tokens=300)]) as api:  # fmt: skip
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


async def new_page(stack: dict[str, Any], viewport: dict[str, int] = DESKTOP, **kw: Any) -> Any:
    ctx = await stack["browser"].new_context(viewport=viewport, **kw)
    page = await ctx.new_page()
    page.on("dialog", lambda d: d.accept())
    await page.goto(stack["base"] + "/login")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/$"))
    return page


async def shot(page: Any, name: str) -> None:
    await anyio.Path(SHOTS).mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def paced(steps: int, delay: float) -> list[Any]:
    """Turns that read a file (allowed: a result) and /etc/hostname (denied), slowly."""
    turns: list[Any] = []
    for i in range(steps):
        path = "/etc/hostname" if i % 2 else "notes.txt"
        turns.append(Turn([Text(f"Step {i}: reading {path}."), ToolUse("Read", {"file_path": path})],
                          input_tokens=500, output_tokens=100 + i, delay=delay))  # fmt: skip
    return [*turns, Text("All steps done.")]


async def test_first_visit_leads_to_a_first_job_or_quick_run(stack: dict[str, Any]) -> None:
    from playwright.async_api import expect

    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await new_page(stack, viewport, bypass_csp=True)
        empty = page.locator("#first-run")
        await expect(empty).to_be_visible()
        await expect(page.locator(".stat")).to_have_count(0)  # no $0.0000 cards, no empty chart
        await shot(page, f"overview-empty-{label}")
        assert not await axe_serious(page)
        await empty.locator("text=Create your first job").click()
        await expect(page.locator("h1")).to_have_text("New job")
        await page.go_back()
        await empty.locator("text=Try a quick run").click()
        await expect(page.locator("h1")).to_have_text("Quick run")
        await page.context.close()


async def test_live_run_view_facts_move_and_steps_pair(stack: dict[str, Any]) -> None:
    from playwright.async_api import expect

    # Long enough that the page sees it running even on a loaded machine (~5 s of model time).
    stack["api"].script("paced", paced(8, 0.6))
    page = await new_page(stack)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(stack["base"] + "/quick")
    await page.fill("textarea[name=prompt]", "[[script:paced]] work through the steps")
    await page.check("input[name=tools][value=Read]")
    await page.click("button[type=submit]")
    await expect(page.locator("#run-state")).to_contain_text("running", timeout=120_000)
    out = page.locator("#f-out")
    before = await out.text_content()
    await expect(page.locator("#activity")).to_be_visible()
    await expect(page.locator("#act-text")).to_contain_text("Model working", timeout=30_000)
    # The facts move during the run, without reload: tokens, turns, cost, elapsed.
    await expect(out).not_to_have_text(before or "0", timeout=30_000)
    await expect(page.locator("#f-turns")).not_to_have_text("0")
    await expect(page.locator("#f-cost")).to_contain_text("≈ $")
    elapsed = await page.locator("#f-elapsed").text_content()
    await expect(page.locator("#f-elapsed")).not_to_have_text(elapsed or "", timeout=5_000)
    assert await page.locator("#run-state").text_content() == "running"  # still live
    await shot(page, "run-live-desktop")
    # Steps: each call holds its result (with a duration) or the denial that refused it.
    step = page.locator("#trace .step").first
    await expect(step.locator(".res .blk-result")).to_have_count(1, timeout=30_000)
    await expect(step.locator(".dur")).to_contain_text(re.compile(r"\d"))
    await expect(step.locator("pre.in")).to_contain_text('"file_path": "notes.txt"')
    assert '"input"' not in (await step.locator("pre.in").text_content() or "")
    denied = page.locator("#trace .step .res .blk-denied").first
    await expect(denied).to_contain_text("Denied", timeout=30_000)
    assert await page.locator("#trace > .blk-denied").count() == 0  # none left before its call
    # Raw JSON toggle, copy, collapse.
    await step.locator("button[data-act=raw]").first.click()
    await expect(step.locator(":scope > pre.raw")).to_be_visible()
    await expect(step.locator(":scope > pre.raw")).to_contain_text('"tool_use_id"')
    await step.locator("button[data-act=copy]").first.click()
    await page.click("#collapse-all")
    assert not await step.evaluate("d => d.open")
    await page.click("#expand-all")
    await expect(page.locator("#run-state")).to_contain_text("succeeded", timeout=60_000)
    await expect(page.locator("#f-cost")).not_to_contain_text("≈")  # the CLI's own figure
    await expect(page.locator("#f-origin")).to_contain_text("quick run by dashboard user admin")
    await shot(page, "run-done-desktop")
    await page.set_viewport_size(PHONE)
    await shot(page, "run-done-phone")
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the run page overflows a phone by {wide} px"
    await page.set_viewport_size(DESKTOP)
    # Re-run and edit-and-run.
    await page.click("#edit-rerun")
    await expect(page.locator("textarea[name=prompt]")).to_have_value(
        "[[script:paced]] work through the steps"
    )
    await expect(page.locator("input[name=tools][value=Read]")).to_be_checked()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await page.context.close()


async def test_lists_move_without_reload(stack: dict[str, Any]) -> None:
    from playwright.async_api import expect

    page = await new_page(stack, timezone_id="Asia/Tokyo")
    await page.goto(stack["base"] + "/runs")
    rows = page.locator("table.runs tbody tr[data-run]")
    count = await rows.count()
    run, _ = await stack["runner"].runs.quick("a run the list should show", actor="cli")
    row = page.locator(f"tr[data-run='{run.run_id}']")
    await expect(row).to_be_visible(timeout=20_000)
    await expect(row).to_contain_text("quick run by the CLI")
    await expect(row.locator(".state")).to_have_text("succeeded", timeout=60_000)
    assert await rows.count() == count + 1
    # Times in the browser's zone, relative; absolute on hover; one click for UTC.
    when = row.locator("time.rel")
    await expect(when).to_have_text(re.compile(r"just now|min ago"))
    assert "UTC" not in (await when.get_attribute("title") or "")  # the page's zone is Asia/Tokyo
    await page.click("#tz-toggle")
    await expect(page.locator("#tz-toggle")).to_have_attribute("aria-pressed", "true")
    assert (await when.get_attribute("title") or "").endswith(" UTC")
    await page.click("#tz-toggle")
    await page.context.close()


async def test_queued_run_says_why(stack: dict[str, Any]) -> None:
    from playwright.async_api import expect

    runner: Runner = stack["runner"]
    await runner.settings.change({"max_concurrent_runs": 1}, actor="test")
    stack["api"].script("hold", [Turn([Text("holding the slot")], delay=0.3)] * 1)
    try:
        first, _ = await runner.runs.quick("[[script:hold]] hold", actor="test")
        second, _ = await runner.runs.quick("queued behind", actor="test")
        page = await new_page(stack)
        await page.goto(f"{stack['base']}/runs/{second.run_id}")
        reason = page.locator("#queue-reason")
        if await page.locator("#run-state").text_content() == "requested":
            await expect(reason).to_contain_text(re.compile(r"slot|about to start|previous"))
        await expect(page.locator("#run-state")).to_contain_text("succeeded", timeout=60_000)
        await page.context.close()
        assert (await runner.queries.run(first.run_id)).state == "succeeded"
    finally:
        await runner.settings.change({"max_concurrent_runs": 3}, actor="test")


async def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until ``selector`` has the focus (a keyboard user's way to reach it)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def test_keyboard_only_create_run_kill(stack: dict[str, Any]) -> None:
    from playwright.async_api import expect

    stack["api"].script("long", paced(40, 0.3))
    page = await new_page(stack)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await tab_to(page, "nav a[href='/jobs']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/jobs$"))
    await tab_to(page, "a[href='/jobs/new']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/jobs/new$"))
    await tab_to(page, "input[name=name]")
    await page.keyboard.type("Keyboard job")
    await page.keyboard.press("Tab")
    await page.keyboard.type("[[script:long]] keep going")
    await tab_to(page, "input[name=tools][value=Read]")
    await page.keyboard.press("Space")
    await tab_to(page, "#job-form button[type=submit]")
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Keyboard job")
    await tab_to(page, "#run-now")
    await page.keyboard.press("Enter")
    await expect(page.locator("#run-state")).to_contain_text("running", timeout=120_000)
    await tab_to(page, "#kill")
    await page.keyboard.press("Enter")  # the confirmation dialog is accepted
    await expect(page.locator("#run-state")).to_contain_text("cancelled", timeout=30_000)
    await page.context.close()


async def axe_serious(page: Any) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return list(result)


async def test_every_page_axe_clean_and_fits_a_phone(stack: dict[str, Any]) -> None:
    runner: Runner = stack["runner"]
    job, _ = await runner.jobs.create(
        {"name": "Weekly report", "prompt": "Summarise.", "cron": "*/15 9-17 * * 1-5",
         "timezone": "Europe/Brussels", "tools": ["Read"]}, actor="test")  # fmt: skip
    hook, _, _ = await for_runner(runner).create(
        {"name": "issues", "prompt_template": "Issue: {{payload.title}}"}, actor="test"
    )
    run, _ = await runner.runs.quick("Say hello.", actor="test")
    with anyio.fail_after(60):
        while (await runner.queries.run(run.run_id)).state != "succeeded":
            await anyio.sleep(0.2)
    paths = ["/", "/?by=source", "/jobs", "/jobs?q=week", "/jobs/new", f"/jobs/{job.job_id}",
             f"/jobs/{job.job_id}/edit", f"/jobs/{job.job_id}/delete", "/runs",
             f"/runs?job_id={job.job_id}", f"/runs/{run.run_id}", "/quick", "/history",
             "/history?type=RunRequested", f"/history/run-{run.run_id}", "/settings", "/webhooks",
             "/webhooks/new", f"/webhooks/{hook.webhook_id}", "/servers", "/servers/memory",
             f"/runs?webhook_id={hook.webhook_id}"]  # fmt: skip
    problems: list[str] = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = await new_page(stack, viewport, bypass_csp=True)  # axe is injected as a script
        for path in paths:
            await page.goto(stack["base"] + path)
            name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "overview"
            await shot(page, f"{name}-{label}")
            wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 0:
                problems.append(f"{path} at {viewport['width']} px overflows by {wide} px")
            for v in await axe_serious(page):
                problems.append(f"{path} ({label}): {v}")
        await page.context.close()
    anon = await (await stack["browser"].new_context(viewport=PHONE, bypass_csp=True)).new_page()
    await anon.goto(stack["base"] + "/login")
    await shot(anon, "login-phone")
    problems += [f"/login: {v}" for v in await axe_serious(anon)]
    await anon.context.close()
    assert not problems, "\n".join(problems)


async def test_form_errors_are_wired_and_shown_once(stack: dict[str, Any]) -> None:
    from playwright.async_api import expect

    page = await new_page(stack)
    await page.goto(stack["base"] + "/jobs/new")
    await page.fill("input[name=name]", "Bad cron")
    await page.fill("textarea[name=prompt]", "p")
    await page.fill("#cron", "99 * * * *")
    await page.fill("input[name=timeout_seconds]", "-1")
    await page.click("#job-form button[type=submit]")
    await expect(page.locator("#err-cron")).to_be_visible()
    await expect(page.locator("text=invalid cron expression")).to_have_count(1)  # not twice
    cron = page.locator("#cron")
    await expect(cron).to_have_value("99 * * * *")  # what was typed is kept
    await expect(cron).to_have_attribute("aria-invalid", "true")
    await expect(cron).to_have_attribute("aria-describedby", "err-cron")
    timeout = page.locator("input[name=timeout_seconds]")
    await expect(timeout).to_have_attribute("aria-describedby", "err-timeout_seconds")
    await expect(page.locator("#err-timeout_seconds")).to_contain_text("Timeout (s)")
    await expect(cron).to_be_focused()  # the first invalid field has the focus
    await page.context.close()
