"""A full disk answers 503 with the cause and ``Retry-After`` (API and dashboard), never a
bare 500; once space is back the same process serves writes again."""

from __future__ import annotations

from typing import Any

import pytest

from runner.app import Runner
from tests.web.support import Client

pytestmark = pytest.mark.anyio
JOB = {"name": "digest", "prompt": "p " * 5000, "cron": "0 7 * * 1-5"}


def fill(runner: Runner) -> None:
    conn = runner.store._journal.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def free(runner: Runner) -> None:
    runner.store._journal.conn.execute("PRAGMA max_page_count = 1073741823")


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
