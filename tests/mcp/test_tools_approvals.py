"""Approval tools through the real MCP client: list, answer, refusals; ask_first on jobs."""

from __future__ import annotations

import time

import pytest
from mcp import Client

from events.approvals import RunAwaitingApproval
from events.ids import run_stream
from runner.app import Runner
from tests.mcp.scenario import err, ok
from web.mcp.server import build_mcp

pytestmark = pytest.mark.anyio


async def test_list_and_answer(runner: Runner) -> None:
    await runner.servers.seed_builtins()
    async with Client(build_mcp(runner, None), mode="legacy") as c:
        made = await ok(
            c,
            "create_job",
            {
                "name": "news",
                "prompt": "email me the news",
                "cron": "0 7 * * 1-5",
                "mcp_servers": ["email"],
                "ask_first": ["mcp__email__send"],
                "approval_timeout_seconds": 7200,
            },
        )
        assert made["job"]["ask_first"] == ["mcp__email__send"]
        assert made["job"]["approval_timeout_seconds"] == 7200
        msg = await err(c, "update_job", {"job_id": "news", "ask_first": ["mcp__slack__post"]})
        assert "slack" in msg and "ask_first" in msg
        run = await runner.runs.request_job(made["job"]["job_id"])
        await runner.store.append(
            run_stream(run.run_id),
            [
                RunAwaitingApproval(
                    run_id=run.run_id,
                    approval_id="apr_x",
                    tool="mcp__email__send",
                    input={"to": "me@example.com"},
                    deadline=time.time() + 100,
                    reason="ask first: mcp__email__send",
                )
            ],
        )
        listed = await ok(c, "list_pending_approvals")
        assert [a["approval_id"] for a in listed["approvals"]] == ["apr_x"]
        assert listed["approvals"][0]["input"] == {"to": "me@example.com"}
        assert listed["approvals"][0]["job_name"] == "news"
        done = await ok(
            c, "answer_approval", {"approval_id": "apr_x", "decision": "denied", "message": "no"}
        )
        assert done["state"] == "denied" and done["answered_by"] == "mcp:stdio"
        again = await err(c, "answer_approval", {"approval_id": "apr_x", "decision": "approved"})
        assert "already denied" in again
        assert "apr_nope" in await err(
            c, "answer_approval", {"approval_id": "apr_nope", "decision": "approved"}
        )
        assert (await ok(c, "list_pending_approvals"))["approvals"] == []
