"""API lists page by cursor (keyset): every row once, in order, whatever the depth; a forged
cursor is a 422 naming the field, never a 500; old offset paging still answers."""

from __future__ import annotations

from typing import Any

import pytest

from runner.app import Runner
from tests.web.support import Client

pytestmark = pytest.mark.anyio


async def walk(client: Client, path: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(100):
        sep = "&" if "?" in path else "?"
        resp = await client.api("GET", f"{path}{sep}limit={limit}&cursor={cursor}")
        assert resp.status_code == 200
        page = await resp.get_json()
        assert page["next_offset"] is None or not cursor
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        cursor = page["next_cursor"]
    raise AssertionError("the cursor never ended")


async def test_runs_and_jobs_page_by_cursor(client: Client, runner: Runner) -> None:
    jobs = []
    for i in range(7):
        job, _ = await runner.jobs.create({"name": f"j{i}", "prompt": "p"}, actor="test")
        jobs.append(job.job_id)
        for _ in range(2):
            await runner.runs.request_job(job.job_id)
    runs = await walk(client, "/api/v1/runs", 3)
    keys = [(r["requested_at_us"], r["run_id"]) for r in runs]
    assert len(keys) == 14 == len(set(keys)) and keys == sorted(keys, reverse=True)
    offset = await (await client.api("GET", "/api/v1/runs?limit=200")).get_json()
    assert [r["run_id"] for r in offset["items"]] == [r["run_id"] for r in runs]
    one_job = await walk(client, f"/api/v1/runs?job_id={jobs[3]}", 1)
    assert {r["job_id"] for r in one_job} == {jobs[3]} and len(one_job) == 2
    listed = await walk(client, "/api/v1/jobs", 2)
    assert sorted(j["job_id"] for j in listed) == sorted(jobs)
    assert len(listed) == len({j["job_id"] for j in listed})


@pytest.mark.parametrize(
    "cursor", ["x", "12", ".run_1", "1.", "9" * 40 + ".r", "1." + "r" * 300, "%00.r", "-"]
)
async def test_a_forged_cursor_is_refused_by_name(client: Client, cursor: str) -> None:
    for path in ("/api/v1/runs", "/api/v1/jobs"):
        resp = await client.api("GET", f"{path}?cursor={cursor}")
        assert resp.status_code == 422, (path, cursor)
        err = (await resp.get_json())["error"]
        assert err["field"] == "cursor", err


@pytest.mark.parametrize("key", ["a'--", "x%25_%25", "r)OR(1=1)--", "k%5C%5C"])
async def test_a_hostile_but_well_formed_cursor_is_only_data(
    client: Client, runner: Runner, key: str
) -> None:
    """Quotes, LIKE wildcards and SQL in the cursor's key are bound parameters, never SQL."""
    job, _ = await runner.jobs.create({"name": "j", "prompt": "p"}, actor="test")
    await runner.runs.request_job(job.job_id)
    huge = 10**17
    resp = await client.api("GET", f"/api/v1/runs?cursor={huge}.{key}")
    assert resp.status_code == 200
    page = await resp.get_json()
    assert len(page["items"]) == 1 and page["total"] == 1  # everything is older than 10**17
    resp = await client.api("GET", f"/api/v1/runs?cursor=1.{key}")
    assert (await resp.get_json())["items"] == []  # nothing is older than 1 µs
