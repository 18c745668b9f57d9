"""Dashboard v2 pages without a browser: attribution, queue reasons, events newest first with
filters and links, paging and search at scale, steps with hostile tool input, paused jobs, form
words, every link resolving, and the list change feed."""

from __future__ import annotations

import re
from typing import Any

import anyio
import httpx2
import pytest

from events.envelope import Meta
from events.runs import (
    RunClaimed,
    RunOutput,
    RunRequested,
    RunSpec,
    RunStarted,
    RunToolDenied,
)
from runner.app import Runner
from tests.web.support import Client, http_login, serving
from web.estimate import estimate_usd, price_of
from web.form_labels import friendly

pytestmark = pytest.mark.anyio
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def request(runner: Runner, run_id: str, actor: str, **kw: Any) -> None:
    spec = RunSpec(prompt="p", model="claude-sonnet-4-5")
    ev = RunRequested(run_id=run_id, job_id=kw.pop("job_id", None), spec=spec, **kw)
    await runner.store.append(f"run-{run_id}", [ev], meta=Meta(actor=actor))


async def html_of(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status_code == status, path
    text: str = await resp.get_data(as_text=True)
    return text


async def test_every_run_says_what_started_it(client: Client, runner: Runner) -> None:
    await request(runner, "run_hook1", "webhook", trigger="webhook", webhook_id="wh_abc",
                  delivery_id="dl_0123456789abcdef")  # fmt: skip
    await request(runner, "run_retry2", "retrier", trigger="retry", retry_of="run_hook1", attempt=2)
    await request(runner, "run_cli", "cli", trigger="quick")
    await request(runner, "run_mcp", "mcp:admin@client-x", trigger="mcp")
    await request(runner, "run_sched", "scheduler", trigger="schedule", scheduled_for=1.8e9)
    await request(runner, "run_evil", f"mcp:x@{XSS}", trigger="mcp")  # a hostile client name
    assert (await runner.queries.run("run_cli")).requested_by == "cli"
    runs = await html_of(client, "/runs")
    assert "<script>alert" not in runs and "<img src=x" not in runs
    assert 'href="/webhooks/wh_abc"' in runs and "/webhooks/wh_abc/deliveries/dl_" in runs
    assert 'retry 2 of <a href="/runs/run_hook1">' in runs
    assert "quick run by the CLI" in runs and "MCP by MCP client admin@client-x" in runs
    assert 'data-trigger="schedule">schedule slot <time class="rel"' in runs
    assert "ad hoc (quick run)" not in runs
    page = await html_of(client, "/runs/run_hook1")
    assert 'id="f-origin"><span class="origin" data-trigger="webhook">webhook <a' in page
    filtered = await html_of(client, "/runs?trigger=webhook")
    assert "run_hook1" in filtered and "run_cli" not in filtered
    by_hook = await html_of(client, "/runs?webhook_id=wh_abc")
    assert (
        "run_hook1" in by_hook and "run_retry2" not in by_hook and "started by webhook" in by_hook
    )


async def test_a_queued_run_says_why(client: Client, runner: Runner) -> None:
    await runner.settings.change({"max_concurrent_runs": 1}, actor="test")
    await request(runner, "run_busy", "admin", trigger="quick")
    await runner.store.append("run-run_busy", [RunClaimed(run_id="run_busy", claimer="c"),
                                               RunStarted(run_id="run_busy", workspace="/w")])  # fmt: skip
    await request(runner, "run_wait", "admin", trigger="quick")
    page = await html_of(client, "/runs/run_wait")
    assert 'id="queue-reason"' in page and "waiting for a free slot: 1/1 runs running" in page
    await runner.settings.change({"daily_budget_usd": 0.000001}, actor="test")
    await runner.store.append("run-run_busy", [RunOutput(run_id="run_busy", seq=0, kind="text",
                                                         text="x")])  # fmt: skip
    running = await html_of(client, "/runs/run_busy")
    assert 'id="queue-reason"' not in running and 'id="activity"' in running


async def test_steps_escape_hostile_tool_input_and_keep_the_denied_call(
    client: Client, runner: Runner
) -> None:
    run, _ = await runner.runs.quick("x", actor="test")
    rid = run.run_id
    await runner.store.append(f"run-{rid}", [
        RunToolDenied(run_id=rid, tool="Bash", reason=XSS, target=XSS, tool_use_id="toolu_1"),
        RunOutput(run_id=rid, seq=0, kind="tool_use", tool_name="Bash", tool_use_id="toolu_1",
                  text="{}", data={"input": {"command": XSS}}),
        RunOutput(run_id=rid, seq=1, kind="tool_result", tool_use_id="toolu_1", text=XSS,
                  is_error=True),
    ])  # fmt: skip
    html = await html_of(client, f"/runs/{rid}")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count('data-use="toolu_1"') == 3  # denial, call and result join by call id
    call = re.search(r'<pre class="in">(.*?)</pre>', html, re.S)
    assert call and "&#34;command&#34;" in call.group(1) and "&#34;input&#34;" not in call.group(1)
    assert '<pre class="raw" hidden>' in html and "&#34;tool_use_id&#34;" in html


async def test_events_newest_first_filtered_and_linked(client: Client, runner: Runner) -> None:
    run, _ = await runner.runs.quick("x", actor="test")
    job, _ = await runner.jobs.create({"name": "J", "prompt": "p"}, actor="test")
    html = await html_of(client, "/history")
    positions = [int(p) for p in re.findall(r'data-label="Position" class="num">(\d+)<', html)]
    assert positions == sorted(positions, reverse=True) and len(positions) >= 2
    assert f'href="/runs/{run.run_id}">run page</a>' in html
    only = await html_of(client, "/history?type=JobCreated")
    assert 'data-label="Type">JobCreated<' in only
    assert 'data-label="Type">RunRequested<' not in only
    runs_only = await html_of(client, "/history?stream=run-")
    assert f"run-{run.run_id}" in runs_only and f"job-{job.job_id}" not in runs_only
    stream = await html_of(client, f"/history/job-{job.job_id}")
    assert f'href="/jobs/{job.job_id}">Back to the job page' in stream
    older = await html_of(client, f"/history?before={positions[0]}")
    assert f'data-label="Position" class="num">{positions[0]}<' not in older


async def test_jobs_paged_searchable_and_the_runs_filter_scales(
    client: Client, runner: Runner
) -> None:
    for i in range(120):
        await runner.jobs.create({"name": f"job {i:03d}", "prompt": "p"}, actor="test")
    await runner.jobs.create({"name": "Nightly backup", "prompt": "p", "cron": "0 3 * * *"},
                             actor="test")  # fmt: skip
    first = await html_of(client, "/jobs")
    assert first.count('data-label="Name"') == 50 and "Jobs (121)" in first
    assert 'href="?offset=50" rel="next"' not in first  # keyset: ?after=<last job shown>
    second = await html_of(client, "/jobs?after=" + first.split('href="?after=')[1].split('"')[0])
    assert second.count('data-label="Name"') == 50 and 'rel="prev"' in second
    third = await html_of(client, "/jobs?after=" + second.split('href="?after=')[1].split('"')[0])
    assert third.count('data-label="Name"') == 21 and 'rel="next"' not in third
    last = await html_of(client, "/jobs?offset=100")  # old offset links still answer
    assert last.count('data-label="Name"') == 21
    found = await html_of(client, "/jobs?q=BACKUP")
    assert found.count('data-label="Name"') == 1 and "Nightly backup" in found
    none = await html_of(client, "/jobs?q=%25_")  # LIKE wildcards are literal
    assert 'data-label="Name"' not in none
    suggest = await client.get("/jobs/suggest?q=night")
    assert [j["name"] for j in (await suggest.get_json())["jobs"]] == ["Nightly backup"]
    runs = await html_of(client, "/runs")
    assert "job 07" not in runs and len(runs) < 20_000  # no full job list in the filter
    by_name = await html_of(client, "/runs?job_id=Nightly+backup")
    assert "Runs of job" in by_name
    unknown = await html_of(client, "/runs?job_id=nope", status=422)
    assert 'id="err-job_id"' in unknown


async def test_paused_job_has_no_next_fires_and_any_cron_reads_in_words(
    client: Client, runner: Runner
) -> None:
    job, _ = await runner.jobs.create(
        {"name": "Odd", "prompt": "p", "cron": "*/15 9-17 * * 1-5", "timezone": "Europe/Brussels"},
        actor="test",
    )
    html = await html_of(client, f"/jobs/{job.job_id}")
    assert "every 15 minutes, between 09:00 and 17:59, Monday through Friday" in html
    assert html.count('class="abs"') == 3  # next fires in the job's zone and the browser's
    await runner.jobs.pause(job.job_id, actor="test")
    paused = await html_of(client, f"/jobs/{job.job_id}")
    assert "none while paused" in paused and 'class="abs"' not in paused
    assert ">paused</span></td>" in (await html_of(client, "/jobs"))


async def test_form_errors_use_the_forms_words(client: Client) -> None:
    resp = await client.form("/jobs/new", {"name": "n", "prompt": "p", "timezone": "UTC",
                                           "timeout_seconds": "-5", "retry_max_attempts": "0"})  # fmt: skip
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 422
    # Internal names may appear only in markup (field names, ids), never in the words shown.
    shown = re.sub(r'(name|id|for|aria-describedby)="[^"]*"|err-[a-z_]+', "", html)
    assert "timeout_seconds" not in shown
    assert friendly("retry.backoff_factor must be >= 1") == "retry backoff growth must be >= 1"


async def test_every_link_on_every_page_resolves(client: Client, runner: Runner) -> None:
    job, _ = await runner.jobs.create({"name": "J", "prompt": "p", "cron": "0 7 * * *"},
                                      actor="test")  # fmt: skip
    run, _ = await runner.runs.quick("x", actor="test")
    pages = ["/", "/?by=source", "/?by=model", "/jobs", f"/jobs/{job.job_id}", "/jobs/new",
             f"/jobs/{job.job_id}/edit", "/runs", f"/runs/{run.run_id}", "/quick",
             f"/quick?from={run.run_id}", "/history", f"/history/run-{run.run_id}", "/settings",
             "/webhooks", "/servers"]  # fmt: skip
    seen: set[str] = set()
    for path in pages:
        html = await html_of(client, path)
        for href in re.findall(r'href="(/[^"#]*)"', html):
            href = href.replace("&amp;", "&")
            if href in seen or href.startswith(("/static/", "/logout", "/live/")):
                continue
            seen.add(href)
            resp = await client.get(href)
            assert resp.status_code in (200, 302), f"{path} links to {href}: {resp.status_code}"
    assert "/api/v1/openapi.json" in seen and "/api/v1" not in seen


async def test_live_change_feed_sends_run_lifecycle_only(runner: Runner) -> None:
    async with serving(runner) as base, httpx2.AsyncClient(base_url=base) as http:
        await http_login(http)
        async with http.stream("GET", "/live/changes") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            got: list[str] = []

            async def read() -> None:
                async for line in resp.aiter_lines():
                    got.append(line)
                    if line == "event: change":
                        return

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await anyio.sleep(0.2)
                await runner.runs.quick("x", actor="test")
                with anyio.fail_after(10):
                    while "event: change" not in got:
                        await anyio.sleep(0.05)
            assert not any("html" in line for line in got)  # no trace blocks on the list feed


def test_live_cost_estimate_by_model_family() -> None:
    from events.runs import Usage

    u = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert estimate_usd("claude-sonnet-4-5", u) == 18.0
    assert price_of("claude-opus-4-5-20251101")[0] == 5.0
    assert price_of("claude-3-opus")[0] == 15.0
    assert price_of("claude-haiku-4-5")[0] == 1.0
    assert price_of(None) == price_of("claude-sonnet-4")


async def test_change_feed_filters_and_drops_a_stuck_browser(runner: Runner) -> None:
    """Fault: a browser that stops reading is dropped (bounded buffer); its feed ends and the
    EventSource reconnects. Only lifecycle events become ``change`` frames."""
    from web.live import encode
    from web.run_pages import change_frames
    from web.sse import Hub

    run, _ = await runner.runs.quick("x", actor="test")
    await runner.store.append(f"run-{run.run_id}", [
        RunOutput(run_id=run.run_id, seq=0, kind="text", text=XSS),
        RunClaimed(run_id=run.run_id, claimer="c"),
    ])  # fmt: skip
    recs = await runner.store.read_stream(f"run-{run.run_id}")
    hub = Hub(runner.store, encode, buffer=8)
    feed = change_frames(hub, 0)
    assert await feed.__anext__() == b"retry: 2000\n\n"
    for rec in recs:
        hub.publish(rec)
    batch = await feed.__anext__()
    assert batch.count(b"event: change") == 2 and b"script" not in batch  # requested, claimed
    job, _ = await runner.jobs.create({"name": "J", "prompt": "p"}, actor="test")
    for rec in await runner.store.read_stream(f"job-{job.job_id}"):
        hub.publish(rec)
    assert (await feed.__anext__()).count(b"event: change") == 1  # a new job moves the list too
    small = Hub(runner.store, encode, buffer=1)
    stuck = change_frames(small, 0)
    await stuck.__anext__()
    for rec in recs:
        small.publish(rec)
    assert small.dropped == 1 and small.clients == 0
    with pytest.raises(StopAsyncIteration):
        await stuck.__anext__()
    await feed.aclose()


async def test_runs_keyset_pages_cover_every_run_once(client: Client, runner: Runner) -> None:
    for i in range(120):
        await request(runner, f"run_{i:04d}", "test", trigger="quick")
    seen: list[str] = []
    url = "/runs"
    pages = 0
    while url:
        html = await html_of(client, url)
        seen += re.findall(r'<tr data-run="([^"]+)">', html)
        nxt = re.search(r'<a href="(\?[^"]*)" rel="next">', html)
        url = "/runs" + nxt.group(1).replace("&amp;", "&") if nxt else ""
        pages += 1
        if pages == 2:
            assert "← newest" in html
    assert pages == 3 and len(seen) == 120 and len(set(seen)) == 120
    assert seen == sorted(seen, reverse=True)  # newest first across pages
    legacy = await html_of(client, "/runs?offset=100")
    assert legacy.count("<tr data-run=") == 20
    odd = await html_of(client, "/runs?before=nonsense")  # a bad cursor is the first page
    assert odd.count("<tr data-run=") == 50


async def test_rerun_and_edit_and_run(client: Client, runner: Runner) -> None:
    run, _ = await runner.runs.quick("again please", tools=["Read"], budget_usd=0.5, actor="test")
    resp = await client.form(f"/runs/{run.run_id}/rerun", {})
    assert resp.status_code == 302
    new_id = resp.headers["Location"].rsplit("/", 1)[1]
    new = await runner.queries.run(new_id)
    assert new_id != run.run_id and new.spec == run.spec and new.requested_by == "admin"
    job, _ = await runner.jobs.create({"name": "J", "prompt": "job prompt"}, actor="test")
    job_run = await runner.runs.request_job(job.job_id, actor="test")
    again = await client.form(f"/runs/{job_run.run_id}/rerun", {})
    assert (
        await runner.queries.run(again.headers["Location"].rsplit("/", 1)[1])
    ).job_id == job.job_id
    form = await html_of(client, f"/quick?from={run.run_id}")
    assert ">again please</textarea>" in form and 'value="Read" checked' in form
    assert (
        await client.form(f"/runs/{run.run_id}/rerun", {"csrf_token": "forged"})
    ).status_code == 403
    assert (await client.get("/quick?from=run_nope")).status_code == 404
