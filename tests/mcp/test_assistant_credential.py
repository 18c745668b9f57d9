"""An assistant turn's MCP credential over the real ``/mcp`` endpoint: it acts as the
conversation's user, it may never answer approvals, it works nowhere but ``/mcp`` and it is
refused once its run has ended (or its lifetime ran out)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from actors.assistant_grants import AssistantDoor
from events.approvals import RunAwaitingApproval
from events.assistant import AssistantCallRefused, AssistantTurn
from events.ids import run_stream
from runner.app import Runner
from tests.mcp.scenario import err, ok
from tests.web.support import serving

pytestmark = pytest.mark.anyio
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def served(runner: Runner) -> AsyncIterator[tuple[str, AssistantDoor, Clock]]:
    clock = Clock()
    door = AssistantDoor(clock=clock)
    async with serving(runner, SimpleNamespace(assistant=door)) as base:
        yield base, door, clock


def bearer(config: dict[str, Any]) -> str:
    return str(config["runner"]["headers"]["Authorization"]).removeprefix("Bearer ")


async def status(base: str, token: str, path: str = "/mcp") -> int:
    async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
        if path == "/mcp":
            r = await http.post(
                path, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {token}"}
            )
        else:
            r = await http.get(path, headers={"Authorization": f"Bearer {token}"})
        return r.status_code


async def test_acts_as_the_user_and_may_not_answer_approvals(
    runner: Runner, served: tuple[str, AssistantDoor, Clock]
) -> None:
    base, door, _ = served
    conv, turn_run = await runner.assistant.start("make me a job", user="admin")
    config = door.open(
        turn_run.run_id, AssistantTurn(conversation_id=conv.conversation_id, user="admin"), 600
    )
    assert config["runner"]["url"] == f"{base}/mcp"
    token = bearer(config)
    # a real approval waiting on some run: the assistant must not be able to answer it
    job, _ = await runner.jobs.create({"name": "mailer", "prompt": "hi"})
    waiting = await runner.runs.request_job(job.job_id)
    await runner.store.append(
        run_stream(waiting.run_id),
        [
            RunAwaitingApproval(
                run_id=waiting.run_id,
                approval_id="apr_mail",
                tool="mcp__email__send",
                input={"to": "me@example.com"},
                deadline=time.time() + 100,
            )
        ],
    )
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as c,
    ):
        made = await ok(c, "create_job", {"name": "from chat", "prompt": "do it"})
        assert made["job"]["name"] == "from chat"
        listed = await ok(c, "list_pending_approvals")
        assert [a["approval_id"] for a in listed["approvals"]] == ["apr_mail"]
        msg = await err(c, "answer_approval", {"approval_id": "apr_mail", "decision": "approved"})
        assert "the assistant may not answer approvals" in msg
    recs = await runner.store.read_stream(f"job-{made['job']['job_id']}")
    assert recs[0].meta.actor == "admin via assistant"
    assert (await runner.approvals.get("apr_mail")).state == "pending"
    refused = [
        r.event
        for r in await runner.store.read_stream(f"conversation-{conv.conversation_id}")
        if isinstance(r.event, AssistantCallRefused)
    ]
    assert [(e.tool, e.run_id) for e in refused] == [("answer_approval", turn_run.run_id)]


async def test_refused_after_the_run_and_outside_mcp(
    runner: Runner, served: tuple[str, AssistantDoor, Clock]
) -> None:
    base, door, clock = served
    turn = AssistantTurn(conversation_id="conv_x", user="admin")
    token = bearer(door.open("run_a", turn, 60))
    assert await status(base, token) == 200
    assert await status(base, token, "/api/v1/jobs") == 401  # an MCP credential, nothing else
    door.close("run_a")
    assert await status(base, token) == 401
    assert await status(base, token + "x") == 401
    later = bearer(door.open("run_b", turn, 60))
    assert await status(base, later) == 200
    clock.now += 61  # its lifetime ran out (a run that never closed it)
    assert await status(base, later) == 401
    again = bearer(door.open("run_c", turn, 60))
    assert again != later and await status(base, again) == 200
    assert door.live == 1


async def test_secrets_never_pass_through_the_assistant(
    runner: Runner, served: tuple[str, AssistantDoor, Clock]
) -> None:
    """A webhook's new secret is hidden from an assistant turn (it would be kept in the turn's
    recorded output); a secret or credential value as an argument is refused and recorded."""
    base, door, _ = served
    await runner.servers.seed_builtins()
    conv, turn_run = await runner.assistant.start("hooks please", user="admin")
    token = bearer(
        door.open(
            turn_run.run_id, AssistantTurn(conversation_id=conv.conversation_id, user="admin"), 600
        )
    )
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as c,
    ):
        made = await ok(c, "create_webhook", {"name": "gh", "prompt_template": "{{payload}}"})
        assert made["secret"].startswith("(hidden from the assistant")
        masked = made["url"].split(f"/hooks/{made['webhook_id']}/", 1)[1]
        assert masked.startswith("****") and len(masked) <= 8  # the mask every view shows
        rotated = await ok(c, "rotate_webhook_secret", {"webhook_id": "gh"})
        assert rotated["secret"] == made["secret"]
        msg = await err(
            c, "create_webhook", {"name": "gh2", "prompt_template": "x", "secret": "s3cr3t-value-1"}
        )
        assert "may not handle webhook secrets" in msg
        msg = await err(
            c,
            "set_server_credential",
            {"server_name": "email", "name": "SMTP_PASSWORD", "value": "hunter2-hunter2"},
        )
        assert "may not handle credentials" in msg
    hooks = {h.name: h for h in await runner.queries.webhooks()}
    assert set(hooks) == {"gh"}
    refused = [
        r.event.tool
        for r in await runner.store.read_stream(f"conversation-{conv.conversation_id}")
        if isinstance(r.event, AssistantCallRefused)
    ]
    assert refused == ["create_webhook", "set_server_credential"]
