"""Deleting a tool server that jobs or webhooks use: refused naming them, or cascaded (removed
from each through their own commands), never half done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runner.app import Runner
from runner.commands.webhooks import for_runner
from runner.errors import Conflict
from tests.helpers import open_runner
from tests.runner.servers.test_commands import POSTER

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data") as r:
        await r.servers.create({"name": "poster", "code": POSTER}, discover=False)
        await r.servers.create(
            {"name": "other", "code": POSTER.replace('"poster"', '"other"')}, discover=False
        )
        yield r


async def users(runner: Runner) -> tuple[str, str]:
    job, _ = await runner.jobs.create(
        {
            "name": "daily post",
            "prompt": "p",
            "tools": ["Read", "mcp__poster__post", "mcp__other__post"],
            "mcp_servers": ["poster", "other"],
        }
    )
    hook, _, _ = await for_runner(runner).create(
        {"name": "on push", "prompt_template": "{{payload}}", "mcp_servers": ["poster"]}
    )
    return job.job_id, hook.webhook_id


async def test_delete_in_use_is_refused_naming_every_user(runner: Runner) -> None:
    job_id, hook_id = await users(runner)
    with pytest.raises(Conflict) as err:
        await runner.servers.delete("poster")
    msg = err.value.message
    assert err.value.field == "name"
    assert f"job 'daily post' ({job_id})" in msg and f"webhook 'on push' ({hook_id})" in msg
    assert "cascade=true" in msg
    assert "poster" in await runner.queries.known_servers()


async def test_cascade_removes_server_and_tools_from_each_user(runner: Runner) -> None:
    job_id, hook_id = await users(runner)
    await runner.servers.delete("poster", cascade=True, actor="t")
    assert "poster" not in await runner.queries.known_servers()
    job = await runner.queries.job(job_id)
    assert job.spec.mcp_servers == ("other",)
    assert job.spec.tools == ("Read", "mcp__other__post")
    hook = await runner.queries.webhook(hook_id)
    assert hook.spec.mcp_servers == () and hook.spec.tools == ()
    types = [r.type for r in await runner.store.read_stream(f"job-{job_id}")]
    assert types[-1] == "JobUpdated"


async def test_cascade_blocked_by_a_disabled_server_changes_nothing(runner: Runner) -> None:
    job_id, _ = await users(runner)
    await runner.servers.disable("other")
    before = await runner.store.head()
    with pytest.raises(Conflict) as err:
        await runner.servers.delete("poster", cascade=True)
    assert err.value.field == "cascade" and "'other'" in err.value.message
    assert await runner.store.head() == before  # nothing written
    assert "poster" in (await runner.queries.job(job_id)).spec.mcp_servers
