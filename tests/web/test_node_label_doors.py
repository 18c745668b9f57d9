"""Pinning to a node label through the dashboard form, the JSON API (checked against its
OpenAPI schema) and the run's queue reason; hostile labels refused with the field named."""

from __future__ import annotations

import pytest

from events.envelope import Meta
from events.leases import LeaseAcquired
from runner.app import Runner
from tests.web.support import Client

pytestmark = pytest.mark.anyio


async def test_the_api_pins_jobs_and_quick_runs_and_refuses_bad_labels(
    client: Client, runner: Runner
) -> None:
    resp = await client.api("POST", "/api/v1/jobs", {"name": "g", "prompt": "p",
                                                     "node_label": "gpu"})  # fmt: skip
    assert resp.status_code == 201, await resp.get_data(as_text=True)
    job = (await resp.get_json())["job"]
    assert job["spec"]["node_label"] == "gpu"
    for bad in ("\x1b[31mgpu", "g" * 64, "gpu\n", "a b"):
        for path, body in (("/api/v1/jobs", {"name": "b", "prompt": "p", "node_label": bad}),
                           ("/api/v1/quick-run", {"prompt": "p", "node_label": bad})):  # fmt: skip
            resp = await client.api("POST", path, body)
            assert resp.status_code in (400, 422), (path, bad)
            err = (await resp.get_json())["error"]
            assert "node_label" in (err.get("field") or "") + err["message"], err
            assert "\x1b" not in err["message"]
    resp = await client.api("POST", "/api/v1/quick-run", {"prompt": "p", "node_label": "tpu"})
    assert resp.status_code == 201, await resp.get_data(as_text=True)
    run = (await resp.get_json())["run"]
    assert run["spec"]["node_label"] == "tpu"
    detail = await (await client.api("GET", f"/api/v1/runs/{run['run_id']}")).get_json()
    assert "waiting for a node labelled 'tpu': none alive" in detail["queue_reason"]
    await runner.store.append(
        "lease-x:1",
        [LeaseAcquired(instance="h:1", host="h", boot_id="", pid=1, started_at=1.0,
                       ttl_seconds=20, node="tpu-box", labels=("tpu",))],
        meta=Meta(actor="t"),
    )  # fmt: skip
    detail = await (await client.api("GET", f"/api/v1/runs/{run['run_id']}")).get_json()
    assert "tpu-box [tpu] alive but busy" in detail["queue_reason"], detail["queue_reason"]
    page = await (await client.get(f"/runs/{run['run_id']}")).get_data(as_text=True)
    assert "waiting for a node labelled" in page and "tpu-box" in page


async def test_the_job_form_keeps_and_checks_the_label(client: Client) -> None:
    resp = await client.form("/jobs/new", {"name": "n", "prompt": "p", "timezone": "UTC",
                                           "node_label": "gpu\x1b[2J"})  # fmt: skip
    assert resp.status_code == 422
    html = await resp.get_data(as_text=True)
    error = html.split('id="err-node_label"', 1)[1].split("</p>", 1)[0]
    assert "control character U+001B" in error and "\x1b" not in error
    resp = await client.form("/jobs/new", {"name": "n", "prompt": "p", "timezone": "UTC",
                                           "node_label": "gpu"})  # fmt: skip
    assert resp.status_code in (302, 303), await resp.get_data(as_text=True)
    form = await (await client.get("/jobs/new")).get_data(as_text=True)
    assert 'name="node_label"' in form
