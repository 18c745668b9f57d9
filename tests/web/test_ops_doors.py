"""Operations at the web doors: a full disk answers 503 with the cause and ``Retry-After``
(API and dashboard), never a bare 500, and the same process serves writes once space is back;
bulk cancel from the API and the job page."""

from __future__ import annotations

from typing import Any

import pytest

from runner.app import Runner
from tests.helpers import sqlite_of
from tests.web.support import Client

pytestmark = pytest.mark.anyio
JOB = {"name": "digest", "prompt": "p " * 5000, "cron": "0 7 * * 1-5"}


def fill(runner: Runner) -> None:
    conn = sqlite_of(runner.store)._journal.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def free(runner: Runner) -> None:
    sqlite_of(runner.store)._journal.conn.execute("PRAGMA max_page_count = 1073741823")


async def test_api_and_dashboard_answer_503_while_the_disk_is_full(
    client: Client, runner: Runner, app: Any
) -> None:
    fill(runner)
    resp = await client.api("POST", "/api/v1/jobs", JOB)
    assert resp.status_code == 503
    assert int(resp.headers["Retry-After"]) > 0
    error = (await resp.get_json())["error"]
    assert error["code"] == "storage_unavailable" and "disk is full" in error["message"]
    page = await client.form("/jobs/new", {k: v for k, v in JOB.items()})
    assert page.status_code == 503 and "Retry-After" in page.headers
    assert "full" in await page.get_data(as_text=True)
    listed = await (await client.get("/api/v1/jobs")).get_json()
    assert listed["items"] == []  # nothing half-written
    free(runner)
    resp = await client.api("POST", "/api/v1/jobs", JOB)
    assert resp.status_code == 201, await resp.get_data(as_text=True)


async def test_bulk_cancel_from_the_api_and_the_job_page(client: Client, runner: Runner) -> None:
    job, _ = await runner.jobs.create({"name": "many", "prompt": "p", "overlap": "allow"})
    runs = [await runner.runs.request_job(job.job_id) for _ in range(6)]
    resp = await client.api("POST", "/api/v1/runs/cancel", {"job_id": job.job_id})
    assert resp.status_code == 200, await resp.get_data(as_text=True)
    assert (await resp.get_json())["cancelled"] == 6
    assert {(await runner.queries.run(r.run_id)).state for r in runs} == {"cancelled"}
    bad = await client.api("POST", "/api/v1/runs/cancel", {})
    assert bad.status_code == 422 and "name a job" in (await bad.get_json())["error"]["message"]
    bad = await client.api("POST", "/api/v1/runs/cancel", {"job": "x"})
    assert bad.status_code == 422
    more = await runner.runs.request_job(job.job_id)
    page = await client.get(f"/jobs/{job.job_id}")
    assert "Cancel queued runs" in await page.get_data(as_text=True)
    resp = await client.form(f"/jobs/{job.job_id}/cancel-queued", {})
    assert resp.status_code == 302
    assert (await runner.queries.run(more.run_id)).state == "cancelled"


async def test_a_read_meeting_an_io_error_answers_503(
    client: Client, runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(runner.queries, "jobs", broken)
    resp = await client.get("/api/v1/jobs")
    assert resp.status_code == 503 and "Retry-After" in resp.headers
    assert (await resp.get_json())["error"]["code"] == "storage_unavailable"


async def test_the_health_panel_shows_a_storage_fault_and_broken_jobs(runner: Runner) -> None:
    from actors.supervisor import Health
    from tests.web.support import PASSWORD
    from web.app import create_app

    health = Health("test:1")
    health.storage_fault("storage unavailable (disk full): free some space")

    class FakeService:
        def status(self) -> dict[str, Any]:
            return {**health.snapshot(), "queue_depth": 0, "cli": {"found": True, "path": "x"},
                    "auth": "api_key", "sandbox": {"available": True}, "database": {},
                    "broken_jobs": [{"job_id": "feb30", "name": "feb 30",
                                     "error": "never fires"}]}  # fmt: skip

    quart = create_app(runner, FakeService())
    async with quart.test_app() as test_app:
        c = Client(test_app.test_client())
        assert (await c.login(PASSWORD)).status_code == 302
        html = await (await c.get("/")).get_data(as_text=True)
        assert "storage unavailable (disk full)" in html and "feb 30" in html
        health.storage_fault(None)
        html = await (await c.get("/")).get_data(as_text=True)
        assert "storage unavailable" not in html
