"""The JSON API: every route, authentication, CSRF, validation, ids, size limit, tokens."""

from __future__ import annotations

import re
from typing import Any

import pytest

from events.runs import RunOutput, RunStarted
from runner.app import Runner
from tests.web.support import Client
from web.openapi import openapi_document

pytestmark = pytest.mark.anyio


def concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "x_unknown", path)


async def make_job(client: Client, name: str = "digest", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "prompt": "Summarise the news", "cron": "0 7 * * 1-5",
            "timezone": "Europe/Brussels", **extra}  # fmt: skip
    resp = await client.api("POST", "/api/v1/jobs", body)
    assert resp.status_code == 201, await resp.get_data(as_text=True)
    job: dict[str, Any] = (await resp.get_json())["job"]
    return job


async def test_openapi_describes_every_route(app: Any) -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    missing = []
    for rule in app.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, missing
    # ... and nothing documented that does not exist
    rules = {
        re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", r.rule) for r in app.app.url_map.iter_rules()
    }
    assert set(doc["paths"]) <= rules


async def test_every_route_needs_authentication(anon: Client) -> None:
    for path, ops in openapi_document()["paths"].items():
        for method in ops:
            resp = await anon.raw.open(concrete(path), method=method.upper(), json={})
            assert resp.status_code == 401, (method, path, resp.status_code)
            body = await resp.get_json()
            assert body["error"]["code"] == "unauthorized"
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_state_changing_routes_need_csrf(client: Client) -> None:
    for path, ops in openapi_document()["paths"].items():
        for method in ops:
            if method == "get":
                continue
            resp = await client.raw.open(concrete(path), method=method.upper(), json={})
            assert resp.status_code == 403, (method, path, resp.status_code)
            assert (await resp.get_json())["error"]["code"] == "csrf"


def _valid_body(op: dict[str, Any]) -> dict[str, Any] | None:
    """A body the operation's schema accepts (the schema gate answers before the lookup)."""
    from jsonschema import Draft202012Validator

    if "requestBody" not in op:
        return None
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    samples: tuple[dict[str, str], ...] = ({"name": "n"}, {"description": "d"}, {"value": "v"}, {"reason": "r"},
               {"decision": "approved"}, {})  # fmt: skip
    for body in samples:
        if Draft202012Validator(schema).is_valid(body):
            return body
    raise AssertionError(f"no sample body fits {op['operationId']}")


async def test_unknown_ids_are_404_with_a_message(client: Client) -> None:
    for path, ops in openapi_document()["paths"].items():
        if "{" not in path or "/webhooks" in path:
            continue
        for method, op in ops.items():
            resp = await client.api(method.upper(), concrete(path), _valid_body(op))
            assert resp.status_code == 404, (method, path, resp.status_code)
            err = (await resp.get_json())["error"]
            assert err["code"] == "not_found" and "x_unknown" in err["message"]
    resp = await client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert (await resp.get_json())["error"]["code"] == "not_found"


async def test_jobs_crud_pause_resume_run_and_history(client: Client) -> None:
    job = await make_job(client)
    jid = job["job_id"]
    assert job["schedule"]["description"] == "on weekdays at 07:00 (Europe/Brussels)"
    assert len(job["schedule"]["next"]) == 3 and job["schedule"]["next"][0].endswith("+01:00")
    listed = await (await client.get("/api/v1/jobs")).get_json()
    assert listed["total"] == 1 and listed["items"][0]["job_id"] == jid
    resp = await client.api(
        "PATCH", f"/api/v1/jobs/{jid}", {"prompt": "Shorter", "expected_version": 0}
    )
    assert resp.status_code == 200 and (await resp.get_json())["job"]["spec"]["prompt"] == "Shorter"
    stale = await client.api("PATCH", f"/api/v1/jobs/{jid}", {"prompt": "x", "expected_version": 0})
    assert stale.status_code == 409
    assert (await (await client.api("POST", f"/api/v1/jobs/{jid}/pause")).get_json())[
        "enabled"
    ] is False
    assert (await (await client.api("POST", f"/api/v1/jobs/{jid}/resume")).get_json())[
        "enabled"
    ] is True
    run = await client.api("POST", f"/api/v1/jobs/{jid}/run")
    assert run.status_code == 201 and (await run.get_json())["trigger"] == "manual"
    events = await (await client.get(f"/api/v1/jobs/{jid}/events")).get_json()
    assert [e["type"] for e in events["items"]] == [
        "JobCreated",
        "JobUpdated",
        "JobPaused",
        "JobResumed",
    ]
    deleted = await client.api("DELETE", f"/api/v1/jobs/{jid}")
    assert (await deleted.get_json())["cancelled_runs"] == [(await run.get_json())["run_id"]]
    assert (await client.get(f"/api/v1/jobs/{jid}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "p"}, "name"),
        ({"name": "n", "prompt": ""}, "prompt"),
        ({"name": "n", "prompt": "p", "cron": "61 * * * *"}, "cron"),
        ({"name": "n", "prompt": "p", "cron": "* * *"}, "cron"),
        ({"name": "n", "prompt": "p", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "n", "prompt": "p", "timeout_seconds": -1}, "timeout_seconds"),
        ({"name": "n", "prompt": "p", "max_turns": "many"}, "max_turns"),
        ({"name": "n", "prompt": "p", "budget_usd": 0}, "budget_usd"),
        ({"name": "n", "prompt": "p", "tools": ["Teleport"]}, "tools"),
        ({"name": "n", "prompt": "p", "mcp_servers": ["nope"]}, "mcp_servers"),
        ({"name": "n", "prompt": "p", "overlap": "sometimes"}, "overlap"),
        ({"name": "x" * 201, "prompt": "p"}, "name"),
    ],
)
async def test_job_validation_names_the_field(
    client: Client, body: dict[str, Any], field: str
) -> None:
    resp = await client.api("POST", "/api/v1/jobs", body)
    assert resp.status_code == 422, await resp.get_data(as_text=True)
    err = (await resp.get_json())["error"]
    assert err["code"] == "invalid" and err["field"] == field and err["message"]


async def test_duplicate_name_conflicts_and_bodies_are_checked(client: Client) -> None:
    await make_job(client, "same")
    dup = await client.api("POST", "/api/v1/jobs", {"name": "same", "prompt": "p"})
    assert dup.status_code == 409 and (await dup.get_json())["error"]["field"] == "name"
    bad = await client.raw.post(
        "/api/v1/jobs",
        data=b"{nope",
        headers={"X-CSRF-Token": client.csrf, "Content-Type": "application/json"},
    )
    assert bad.status_code == 422 and "JSON" in (await bad.get_json())["error"]["message"]
    arr = await client.api("POST", "/api/v1/jobs", [1, 2])
    assert arr.status_code == 422
    unknown = await client.api("POST", "/api/v1/jobs", {"name": "n", "prompt": "p", "colour": 1})
    assert unknown.status_code == 422 and "colour" in (await unknown.get_json())["error"]["message"]


async def test_oversized_bodies_are_413(client: Client) -> None:
    big = {"name": "big", "prompt": "x" * (2 * 1024 * 1024)}
    resp = await client.api("POST", "/api/v1/jobs", big)
    assert resp.status_code == 413
    assert (await resp.get_json())["error"]["code"] == "too_large"


async def test_runs_list_filters_pagination_and_cancel(client: Client, runner: Runner) -> None:
    job = await make_job(client)
    ids = []
    for _ in range(3):
        r = await client.api("POST", f"/api/v1/jobs/{job['job_id']}/run")
        ids.append((await r.get_json())["run_id"])
    quick = await client.api("POST", "/api/v1/quick-run", {"prompt": "hello", "tools": ["Read"]})
    assert quick.status_code == 201
    qid = (await quick.get_json())["run"]["run_id"]
    page = await (await client.get("/api/v1/runs?limit=2")).get_json()
    assert page["total"] == 4 and len(page["items"]) == 2 and page["next_offset"] == 2
    page2 = await (await client.get("/api/v1/runs?limit=2&offset=2")).get_json()
    assert page2["next_offset"] is None
    assert {r["run_id"] for r in page["items"] + page2["items"]} == {*ids, qid}
    by_job = await (await client.get(f"/api/v1/runs?job_id={job['job_id']}")).get_json()
    assert by_job["total"] == 3
    quick_only = await (await client.get("/api/v1/runs?trigger=quick&state=requested")).get_json()
    assert [r["run_id"] for r in quick_only["items"]] == [qid]
    capped = await (await client.get("/api/v1/runs?limit=100000")).get_json()
    assert capped["limit"] == 200
    # An empty range is a valid question with an empty answer (the document allows it).
    empty = await client.get("/api/v1/runs?since=2026-02-02&until=2026-01-01")
    assert empty.status_code == 200 and (await empty.get_json())["total"] == 0
    for query, field in (
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("state=weird", "state"),
        ("trigger=x", "trigger"),
        ("since=yesterday", "since"),
        ("offset=-1", "offset"),
    ):
        resp = await client.get(f"/api/v1/runs?{query}")
        assert resp.status_code == 422, query
        assert (await resp.get_json())["error"]["field"] == field
    today = await (await client.get("/api/v1/runs?since=2000-01-01&until=2100-01-01")).get_json()
    assert today["total"] == 4
    one = await (await client.get(f"/api/v1/runs/{qid}")).get_json()
    assert one["spec"]["tools"] == ["Read"] and one["cost_is_estimate"] is True
    await runner.store.append(f"run-{qid}", [RunOutput(run_id=qid, seq=0, kind="text", text="hi")])
    out = await (await client.get(f"/api/v1/runs/{qid}/output")).get_json()
    assert [o["text"] for o in out["items"]] == ["hi"]
    evs = await (await client.get(f"/api/v1/runs/{qid}/events")).get_json()
    assert [e["type"] for e in evs["items"]] == ["RunRequested", "RunOutput"]
    cancel = await client.api(
        "POST", f"/api/v1/runs/{ids[0]}/cancel", {"reason": "changed my mind"}
    )
    assert cancel.status_code == 200, await cancel.get_data(as_text=True)
    assert (await cancel.get_json())["state"] == "cancelled"
    again = await client.api("POST", f"/api/v1/runs/{ids[0]}/cancel")
    assert again.status_code == 409, await again.get_data(as_text=True)


async def test_quick_run_validation(client: Client) -> None:
    for body, field in (
        ({"prompt": "  "}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "p", "tools": ["Nope"]}, "tools"),
        ({"prompt": "p", "tools": "Read"}, "tools"),
        ({"prompt": "p", "timeout_seconds": 0}, "timeout_seconds"),
    ):
        resp = await client.api("POST", "/api/v1/quick-run", body)
        assert resp.status_code == 422, body
        assert (await resp.get_json())["error"]["field"] == field, body


async def test_costs_settings_cron_preview_health_events(client: Client, runner: Runner) -> None:
    costs = await (await client.get("/api/v1/costs?group_by=job")).get_json()
    assert costs["items"] == [] and costs["cost_is_estimate"] is True
    bad = await client.get("/api/v1/costs?group_by=colour")
    assert bad.status_code == 422 and (await bad.get_json())["error"]["field"] == "group_by"
    s = await (await client.get("/api/v1/settings")).get_json()
    assert s["max_concurrent_runs"] == 3
    put = await client.api(
        "PUT", "/api/v1/settings", {"max_concurrent_runs": 5, "sandbox_mode": "off"}
    )
    assert (await put.get_json())["max_concurrent_runs"] == 5
    badput = await client.api("PUT", "/api/v1/settings", {"max_concurrent_runs": 0})
    assert badput.status_code == 422
    assert (await badput.get_json())["error"]["field"] == "max_concurrent_runs"
    unknown = await client.api("PATCH", "/api/v1/settings", {"colour": "red"})
    assert unknown.status_code == 422 and (await unknown.get_json())["error"]["field"] == "colour"
    pv = await client.api(
        "POST", "/api/v1/cron/preview", {"cron": "*/15 * * * *", "timezone": "Asia/Tokyo"}
    )
    data = await pv.get_json()
    assert data["description"].startswith("every 15 minutes") and len(data["next"]) == 3
    assert all(n.endswith("+09:00") for n in data["next"])
    badpv = await client.api("POST", "/api/v1/cron/preview", {"cron": "0 25 * * *"})
    assert badpv.status_code == 422 and (await badpv.get_json())["error"]["field"] == "cron"
    badtz = await client.api("POST", "/api/v1/cron/preview", {"cron": "0 1 * * *", "timezone": "X"})
    assert (await badtz.get_json())["error"]["field"] == "timezone"
    health = await (await client.get("/api/v1/health")).get_json()
    assert "queue_depth" in health and "sse_clients" in health
    log = await (await client.get("/api/v1/events?limit=500")).get_json()
    types = [e["type"] for e in log["items"]]
    assert "AdminCreated" in types and "SettingsChanged" in types
    admin = next(e for e in log["items"] if e["type"] == "AdminCreated")
    assert admin["data"]["password_hash"] == "[redacted]"
    one = await (await client.get("/api/v1/events?stream=settings")).get_json()
    assert {e["stream"] for e in one["items"]} == {"settings"}


async def test_api_tokens_shown_once_usable_revocable(
    client: Client, anon: Client, runner: Runner
) -> None:
    resp = await client.api("POST", "/api/v1/tokens", {"name": "backup script"})
    assert resp.status_code == 201
    tok = await resp.get_json()
    secret = tok["token"]
    listed = await (await client.get("/api/v1/tokens")).get_json()
    assert listed["items"][0]["name"] == "backup script"
    assert secret not in str(listed) and "token_hash" not in str(listed)
    async for rec in runner.store.read_all():
        assert secret not in str(rec.event)
    bearer = {"Authorization": f"Bearer {secret}"}
    ok = await anon.raw.get("/api/v1/jobs", headers=bearer)
    assert ok.status_code == 200
    made = await anon.raw.post(
        "/api/v1/jobs", json={"name": "via token", "prompt": "p"}, headers=bearer
    )
    assert made.status_code == 201  # Bearer requests need no CSRF token
    assert (await anon.raw.get("/", headers=bearer)).status_code == 200
    wrong = await anon.raw.get("/api/v1/jobs", headers={"Authorization": "Bearer crt_nope"})
    assert wrong.status_code == 401
    assert (await client.api("POST", "/api/v1/tokens", {"name": " "})).status_code == 422
    assert (await client.api("POST", "/api/v1/tokens", {})).status_code == 422
    rev = await client.api("DELETE", f"/api/v1/tokens/{tok['token_id']}")
    assert rev.status_code == 200 and rev is not None
    assert (await anon.raw.get("/api/v1/jobs", headers=bearer)).status_code == 401
    assert (await client.api("DELETE", f"/api/v1/tokens/{tok['token_id']}")).status_code == 409
    assert (await client.api("DELETE", "/api/v1/tokens/tok_nope")).status_code == 404


async def test_run_output_and_names_are_escaped_in_json_consumers(
    client: Client, runner: Runner
) -> None:
    job = await make_job(client, "<img src=x onerror=alert(1)>")
    run = await (await client.api("POST", f"/api/v1/jobs/{job['job_id']}/run")).get_json()
    rid = run["run_id"]
    await runner.store.append(f"run-{rid}", [RunStarted(run_id=rid, workspace="/w")])
    resp = await client.get(f"/api/v1/runs/{rid}")
    assert resp.mimetype == "application/json"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
