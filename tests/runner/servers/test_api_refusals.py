"""/api/v1/servers refuses what the commands refuse, with the field and what to fix: deleting a
server in use (409 naming the jobs; ?cascade=true removes it from them) and downgrading a
declared-sensitive credential (422, nothing stored)."""

from __future__ import annotations

from typing import Any

import pytest

from runner.app import Runner
from tests.runner.servers.test_commands_web import CODE, SECRET, client, runner  # noqa: F401
from tests.web.support import Client

pytestmark = pytest.mark.anyio


async def body(resp: Any) -> Any:
    return await resp.get_json()


async def test_delete_in_use_409_then_cascade(client: Client, runner: Runner) -> None:  # noqa: F811
    made = await client.api("POST", "/api/v1/servers", {"name": "poster", "code": CODE})
    assert made.status_code == 201
    job, _ = await runner.jobs.create(
        {"name": "poster job", "prompt": "p", "mcp_servers": ["poster"]}
    )
    refused = await client.api("DELETE", "/api/v1/servers/poster")
    assert refused.status_code == 409
    error = (await body(refused))["error"]
    assert error["field"] == "name" and "job 'poster job'" in error["message"]
    assert (await client.get("/api/v1/servers/poster")).status_code == 200
    gone = await client.api("DELETE", "/api/v1/servers/poster?cascade=true")
    assert gone.status_code == 200
    assert (await runner.queries.job(job.job_id)).spec.mcp_servers == ()


async def test_credential_downgrade_is_422(client: Client, runner: Runner) -> None:  # noqa: F811
    await client.api("POST", "/api/v1/servers", {"name": "poster", "code": CODE})
    put = await client.api(
        "PUT",
        "/api/v1/servers/poster/credentials/PAGE_TOKEN",
        {"value": SECRET, "sensitive": False},
    )
    assert put.status_code == 422
    assert (await body(put))["error"]["field"] == "sensitive"
    assert await runner.queries.credentials("poster") == []
    shown = await client.get("/api/v1/servers/poster/credentials")
    assert SECRET not in str(await shown.get_data(as_text=True))
