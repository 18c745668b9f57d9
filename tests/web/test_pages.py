"""Dashboard pages: sign-in, guard, CSRF on forms, field errors, escaping, headers, sessions."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest

from events.relay import ModelCallMetered
from events.runs import RunClaimed, RunOutput, RunStarted, RunToolDenied
from runner.app import Runner
from tests.helpers import open_runner
from tests.web.support import PASSWORD, Client
from web.app import create_app
from web.render import markdown

pytestmark = pytest.mark.anyio
PAGES = ["/", "/jobs", "/jobs/new", "/runs", "/quick", "/history", "/settings"]
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_pages_redirect_to_login_and_back(anon: Client) -> None:
    for path in PAGES:
        resp = await anon.get(path)
        assert resp.status_code == 302, path
        assert resp.headers["Location"].startswith("/login?next=")
    resp = await anon.login()
    assert resp.status_code == 302
    for path in PAGES:
        assert (await anon.get(path)).status_code == 200, path


async def test_login_failures_rate_limit_and_open_redirect(anon: Client) -> None:
    page = await anon.get("/login?next=https://evil.example/")
    html = await page.get_data(as_text=True)
    assert "evil.example" not in html
    statuses = []
    for _ in range(6):
        resp = await anon.login("wrong password")
        statuses.append(resp.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    assert int((await anon.login("wrong")).headers["Retry-After"]) > 0
    # even the right password waits out the limit
    assert (await anon.login(PASSWORD)).status_code == 429


async def test_login_needs_csrf(anon: Client) -> None:
    await anon.get("/login")
    resp = await anon.raw.post("/login", form={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 403


async def test_security_headers_and_cookie_flags(anon: Client, client: Client) -> None:
    resp = await anon.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "script-src 'self'", "object-src 'none'",
                 "frame-ancestors 'none'"):  # fmt: skip
        assert part in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    for path in PAGES:
        html = await (await client.get(path)).get_data(as_text=True)
        assert "<script>" not in html and " on" + "click=" not in html
        assert "https://" not in html.split("<body>")[0]  # no CDN assets


async def test_secure_cookie_behind_https(tmp_path: Path) -> None:
    async with open_runner(tmp_path, admin_password=PASSWORD, public_url="https://r.example") as r:
        app = create_app(r)
        async with app.test_app() as test_app:
            resp = await test_app.test_client().get("/login")
            assert "Secure" in resp.headers["Set-Cookie"]


async def test_session_key_file_persists_sessions(runner: Runner, client: Client) -> None:
    key = runner.config.data_dir / "web-session.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    again = create_app(runner)
    async with again.test_app() as app2:
        c2 = app2.test_client()
        c2.cookie_jar = client.raw.cookie_jar  # the same browser after a restart
        assert (await c2.get("/jobs")).status_code == 200


async def test_admin_password_printed_once(tmp_path: Path, capsys: Any) -> None:
    async with open_runner(tmp_path) as r:
        async with create_app(r).test_app():
            pass
        first = capsys.readouterr().err
        assert "password" in first
        password = first.split("password '")[1].split("'")[0]
        async with create_app(r).test_app() as app:
            assert "password" not in capsys.readouterr().err
            c = Client(app.test_client())
            assert (await c.login(password)).status_code == 302
        admin = await r.store.read_stream("access-admin")
        assert password not in msgspec.json.encode(admin[0].event).decode()


async def test_logout_and_password_change_end_sessions(app: Any, runner: Runner) -> None:
    from runner.access import Access

    a, b = Client(app.test_client()), Client(app.test_client())
    await a.login()
    await b.login()
    resp = await a.form("/logout", {})
    assert resp.status_code == 302
    assert (await a.get("/")).status_code == 302
    assert (await b.get("/")).status_code == 200
    await Access(runner.store).change_password("a new password")
    assert (await b.get("/")).status_code == 302  # every other session ends
    assert (await b.login("a new password")).status_code == 302


async def test_job_form_errors_next_to_fields_and_csrf(client: Client) -> None:
    resp = await client.form("/jobs/new", {"name": "n", "prompt": "p", "cron": "99 * * * *",
                                           "timezone": "UTC"})  # fmt: skip
    assert resp.status_code == 422
    html = await resp.get_data(as_text=True)
    assert 'id="err-cron"' in html and "invalid cron expression" in html
    assert 'value="99 * * * *"' in html  # the input is kept
    resp = await client.form("/jobs/new", {"name": "", "prompt": "", "cron": "* *",
                                           "timezone": "Nowhere/City", "max_turns": "lots",
                                           "tools": "Teleport"})  # fmt: skip
    html = await resp.get_data(as_text=True)
    for field in ("name", "prompt", "cron", "timezone", "max_turns", "tools"):
        assert f'id="err-{field}"' in html, field  # every error at once, next to its field
    resp = await client.raw.post("/jobs/new", form={"name": "n", "prompt": "p"})
    assert resp.status_code == 403
    resp = await client.form("/jobs/new", {"name": XSS, "prompt": XSS, "cron": "0 7 * * *",
                                           "timezone": "Europe/Brussels", "tools": "Read",
                                           "enabled": "on"})  # fmt: skip
    assert resp.status_code == 302
    job_url = resp.headers["Location"]
    for path in (job_url, "/jobs", f"{job_url}/edit", f"{job_url}/delete"):
        html = await (await client.get(path)).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path
    jobs = await (await client.get("/jobs")).get_data(as_text=True)
    assert "every day at 07:00 (Europe/Brussels)" in jobs
    edit = await client.form(f"{job_url}/edit", {"name": "renamed", "prompt": "p", "cron": "",
                                                 "timezone": "UTC", "version": "0"})  # fmt: skip
    assert edit.status_code == 302
    assert "manual only" in await (await client.get(job_url)).get_data(as_text=True)
    assert (await client.form(f"{job_url}/pause", {})).status_code == 302
    assert "paused" in await (await client.get("/jobs")).get_data(as_text=True)
    run = await client.form(f"{job_url}/run", {})
    assert run.headers["Location"].startswith("/runs/run_")
    confirm = await client.get(f"{job_url}/delete")
    assert "Delete the job" in await confirm.get_data(as_text=True)
    assert (await client.form(f"{job_url}/delete", {})).status_code == 302
    assert (await client.get(job_url)).status_code == 404


async def test_run_page_sanitizes_trace(client: Client, runner: Runner) -> None:
    run, _ = await runner.runs.quick("hello")
    rid = run.run_id
    await runner.store.append(
        f"run-{rid}",
        [
            RunStarted(run_id=rid, workspace="/w"),
            RunOutput(run_id=rid, seq=0, kind="text",
                      text=f"# Title\n\n**bold** {XSS} [x](javascript:alert(1)) <b onclick=x>b</b>"),
            RunOutput(run_id=rid, seq=1, kind="thinking", text="thinking " + XSS),
            RunOutput(run_id=rid, seq=2, kind="tool_use", tool_name="mcp__x__y",
                      data={"q": XSS}, tool_use_id="t1"),
            RunOutput(run_id=rid, seq=3, kind="tool_result", text=XSS, tool_use_id="t1",
                      is_error=True),
            RunToolDenied(run_id=rid, tool="Bash", reason="outside the sandbox " + XSS),
        ],
    )  # fmt: skip
    html = await (await client.get(f"/runs/{rid}")).get_data(as_text=True)
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "Node" not in html  # not claimed by any process yet
    assert "<script>alert" not in html and "<img src=x" not in html
    assert 'href="javascript:' not in html and "<b onclick" not in html
    assert '<details class="blk blk-thinking"' in html
    assert "blk-denied" in html and "blk-err" in html
    assert 'data-stream="/api/v1/runs/' in html and 'id="kill"' in html
    kill = await client.form(f"/runs/{rid}/cancel", {})
    assert kill.status_code == 302
    history = await (await client.get(f"/history/run-{rid}")).get_data(as_text=True)
    assert "RunCancelRequested" in history and "<script>alert" not in history
    assert (await client.get("/history/run-nope")).status_code == 404
    assert (await client.get("/runs/run_nope")).status_code == 404


async def test_run_page_names_the_node_that_ran_it(client: Client, runner: Runner) -> None:
    """With several processes or nodes on one log, a run says which one claimed and ran it."""
    run, _ = await runner.runs.quick("hello")
    rid = run.run_id
    await runner.store.append(
        f"run-{rid}",
        [
            RunClaimed(run_id=rid, claimer="node-b.example:4242"),
            RunStarted(run_id=rid, workspace="/w"),
        ],
    )
    html = await (await client.get(f"/runs/{rid}")).get_data(as_text=True)
    assert "<dt>Node</dt>" in html and "node-b.example:4242" in html


async def test_run_page_shows_the_relays_metered_spend(client: Client, runner: Runner) -> None:
    run, _ = await runner.runs.quick("hello", budget_usd=0.5)
    rid = run.run_id
    html = await (await client.get(f"/runs/{rid}")).get_data(as_text=True)
    assert "Metered by the relay" not in html  # no model call yet
    calls = [
        ModelCallMetered(run_id=rid, job_id=None, call_id=f"c{i}", model="claude-sonnet-4-5",
                         status=200, input_tokens=1000, cost_usd=0.1, charged_usd=0.1)
        for i in range(2)
    ] + [ModelCallMetered(run_id=rid, job_id=None, call_id="c9", model="mystery-model",
                          status=200, input_tokens=10, cost_usd=None, charged_usd=0.05)]  # fmt: skip
    await runner.store.append(f"run-{rid}", [RunStarted(run_id=rid, workspace="/w"), *calls])
    html = await (await client.get(f"/runs/{rid}")).get_data(as_text=True)
    assert "Metered by the relay" in html and "3 model call(s)" in html
    assert "1 at an unknown price" in html and "of the budget left" in html


def test_markdown_sanitizer() -> None:
    out = str(
        markdown("<script>x</script>\n\n[a](javascript:x) [b](https://e/) ![i](http://e/i.png)")
    )
    assert "<script>" not in out and 'href="javascript:' not in out
    assert '<a href="https://e/" rel="noopener noreferrer nofollow">b</a>' in out


async def test_quick_run_form(client: Client) -> None:
    resp = await client.form("/quick", {"prompt": " ", "timeout_seconds": "-3", "tools": "Nope"})
    assert resp.status_code == 422
    html = await resp.get_data(as_text=True)
    for field in ("prompt", "timeout_seconds", "tools"):
        assert f'id="err-{field}"' in html, field
    ok = await client.form("/quick", {"prompt": "hi", "tools": "Read"})
    assert ok.status_code == 302 and ok.headers["Location"].startswith("/runs/run_")
    page = await (await client.get(ok.headers["Location"])).get_data(as_text=True)
    assert 'data-stream="/api/v1/runs/' in page  # opens its live view


async def test_runs_page_filters_and_validation(client: Client, runner: Runner) -> None:
    for _ in range(3):
        await runner.runs.quick("p")
    html = await (await client.get("/runs?trigger=quick")).get_data(as_text=True)
    assert html.count('href="/runs/run_') == 3
    bad = await client.get("/runs?state=nope&since=soon")
    assert bad.status_code == 422
    assert 'id="err-state"' in await bad.get_data(as_text=True)


async def test_settings_page_and_tokens(client: Client, runner: Runner) -> None:
    resp = await client.form("/settings", {"action": "settings", "max_concurrent_runs": "0",
                                           "default_model": "m", "default_timeout_seconds": "soon",
                                           "sandbox_mode": "auto",
                                           "allowed_builtin_tools": "Read"})  # fmt: skip
    assert resp.status_code == 422
    html = await resp.get_data(as_text=True)
    # every invalid field at once, in the form's words, with what was typed kept
    assert 'id="err-max_concurrent_runs"' in html and 'id="err-default_timeout_seconds"' in html
    assert "Default timeout (s) must be a number of seconds" in html
    assert "max_concurrent_runs must" not in html and 'value="soon"' in html
    ok = await client.form("/settings", {"action": "settings", "max_concurrent_runs": "4",
                                         "default_model": "m", "default_timeout_seconds": "60",
                                         "sandbox_mode": "off",
                                         "allowed_builtin_tools": "Read"})  # fmt: skip
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/settings?saved=1")
    made = await client.form("/settings", {"action": "create_token", "name": "ci"})
    assert made.status_code == 302  # post/redirect/get: a reload cannot create a second token
    shown = await client.get(made.headers["Location"])
    html = await shown.get_data(as_text=True)
    assert 'id="new-token">crt_' in html
    reload = await (await client.get(made.headers["Location"])).get_data(as_text=True)
    assert "crt_" not in reload  # shown once, even at the same address
    again = await (await client.get("/settings")).get_data(as_text=True)
    assert "crt_" not in again
    assert len([t for t in await web_access(runner).tokens() if t.name == "ci"]) == 1


def web_access(runner: Runner) -> Any:
    from runner.access import Access

    return Access(runner.store)


async def test_overview_banner_when_cli_missing(runner: Runner) -> None:
    class FakeService:
        def status(self) -> dict[str, Any]:
            return {"actors": {"scheduler": {"alive": True}}, "queue_depth": 2,
                    "cli": {"found": False, "path": None}, "auth": "none",
                    "sandbox": {"available": False}, "database": {"bytes": 1 << 20}}  # fmt: skip

    async with create_app(runner, FakeService()).test_app() as app:
        c = Client(app.test_client())
        await c.login()
        html = await (await c.get("/")).get_data(as_text=True)
        assert 'class="banner"' in html and "CLI was not found" in html
        assert (await c.get("/jobs")).status_code == 200  # still usable
