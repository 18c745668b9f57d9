"""Approvals in the dashboard and the API: the run panel, the list, answers, refusals."""

from __future__ import annotations

import time
from typing import Any

import pytest

from events.approvals import ApprovalAnswered, RunAwaitingApproval
from events.envelope import Meta
from events.ids import run_stream
from runner.app import Runner
from tests.web.support import Client

pytestmark = pytest.mark.anyio


async def waiting(runner: Runner, tool_input: dict[str, Any] | None = None) -> tuple[str, str]:
    run, _ = await runner.runs.quick(
        "mail it", approvals={"ask_first": ["Bash"]}, tools=["Bash"], actor="t"
    )
    ev = RunAwaitingApproval(
        run_id=run.run_id,
        approval_id="apr_1",
        tool="Bash",
        input=tool_input or {"command": "echo hi"},
        deadline=time.time() + 600,
        reason="ask first: Bash",
    )
    await runner.store.append(run_stream(run.run_id), [ev], meta=Meta(actor="executor"))
    return run.run_id, "apr_1"


async def test_run_page_shows_the_request_and_approve_answers_it(
    client: Client, runner: Runner
) -> None:
    run_id, apr = await waiting(runner, {"command": "<script>alert(1)</script>"})
    page = await (await client.get(f"/runs/{run_id}")).get_data(as_text=True)
    assert 'id="approvals-panel"' in page and "data-live" in page
    assert "<script>alert(1)" not in page and "alert(1)" in page  # shown, escaped
    assert "Ask first:" in page and "Approve" in page
    resp = await client.form(
        f"/approvals/{apr}/answer", {"decision": "approve", "next": f"/runs/{run_id}"}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == f"/runs/{run_id}"
    evs = [r.event for r in await runner.store.read_stream(run_stream(run_id))]
    ans = [e for e in evs if isinstance(e, ApprovalAnswered)]
    assert len(ans) == 1 and ans[0].decision == "approved" and ans[0].by == "admin"
    # A second answer is refused with a reason, nothing is written.
    again = await client.form(f"/approvals/{apr}/answer", {"decision": "deny"})
    assert again.status_code == 409
    assert "already approved" in await again.get_data(as_text=True)
    frag = await (await client.get(f"/runs/{run_id}/approvals")).get_data(as_text=True)
    assert "approved" in frag and "by admin" in frag


async def test_deny_with_message_from_the_list_page(client: Client, runner: Runner) -> None:
    _, apr = await waiting(runner)
    listing = await (await client.get("/approvals")).get_data(as_text=True)
    assert apr in listing and "Waiting (1)" in listing
    resp = await client.form(
        f"/approvals/{apr}/answer",
        {"decision": "deny", "message": "use the staging list", "next": "//evil.example"},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/approvals"
    row = await runner.approvals.get(apr)
    assert row.state == "denied" and row.message == "use the staging list"
    listing = await (await client.get("/approvals")).get_data(as_text=True)
    assert "Waiting (0)" in listing and "use the staging list" in listing


async def test_api_lists_and_answers(client: Client, runner: Runner) -> None:
    _, apr = await waiting(runner)
    items = (await (await client.api("GET", "/api/v1/approvals")).get_json())["items"]
    assert [i["approval_id"] for i in items] == [apr] and items[0]["seconds_left"] > 500
    bad = await client.api("POST", f"/api/v1/approvals/{apr}", {"decision": "maybe"})
    assert bad.status_code == 422 and (await bad.get_json())["error"]["field"] == "decision"
    msg = await client.api(
        "POST", f"/api/v1/approvals/{apr}", {"decision": "approved", "message": "x"}
    )
    assert msg.status_code == 422  # a message goes with a denial only
    ok = await client.api("POST", f"/api/v1/approvals/{apr}", {"decision": "denied"})
    assert ok.status_code == 200 and (await ok.get_json())["state"] == "denied"
    missing = await client.api("POST", "/api/v1/approvals/apr_nope", {"decision": "denied"})
    assert missing.status_code == 404


async def test_answers_need_sign_in_and_csrf(anon: Client, client: Client, runner: Runner) -> None:
    _, apr = await waiting(runner)
    r = await anon.raw.post(f"/approvals/{apr}/answer", form={"decision": "approve"})
    assert r.status_code in (302, 401, 403)
    r = await client.raw.post(f"/approvals/{apr}/answer", form={"decision": "approve"})
    assert r.status_code == 403
    r = await client.raw.post(f"/api/v1/approvals/{apr}", json={"decision": "approved"})
    assert r.status_code == 403
    assert (await runner.approvals.get(apr)).state == "pending"


async def test_job_form_takes_ask_first_and_names_a_bad_entry(
    client: Client, runner: Runner
) -> None:
    base = {"name": "mail", "prompt": "send the news", "cron": "", "tools": "Bash"}
    bad = await client.form("/jobs/new", {**base, "ask_first": "mcp__nowhere__send"})
    assert bad.status_code == 422
    html = await bad.get_data(as_text=True)
    assert 'id="err-ask_first"' in html and "nowhere" in html
    bad = await client.form("/jobs/new", {**base, "approval_timeout_seconds": "-1"})
    assert bad.status_code == 422 and 'id="err-approval_timeout_seconds"' in (
        await bad.get_data(as_text=True)
    )
    ok = await client.form(
        "/jobs/new",
        {**base, "ask_first": "Bash", "approval_on_timeout": "fail_run",
         "approval_timeout_seconds": "120", "ask_first_writes": "true"},
    )  # fmt: skip
    assert ok.status_code == 302, await ok.get_data(as_text=True)
    (job,) = (await runner.queries.jobs()).items
    assert job.spec.ask_first == ("Bash",) and job.spec.approval_on_timeout == "fail_run"
    assert job.spec.approval_timeout_seconds == 120 and job.spec.ask_first_writes is True
    edit = await (await client.get(f"/jobs/{job.job_id}/edit")).get_data(as_text=True)
    assert 'name="ask_first" value="Bash"' in edit


async def test_quick_run_form_takes_ask_first(client: Client, runner: Runner) -> None:
    resp = await client.form("/quick", {"prompt": "hi", "tools": "Bash", "ask_first": "Bash"})
    assert resp.status_code == 302
    run_id = resp.headers["Location"].rsplit("/", 1)[1]
    assert (await runner.queries.run(run_id)).spec.ask_first == ("Bash",)
