"""The dashboard assistant end to end: a real Service (claimer, executor, relay, sandbox) and web
server, the real Claude Code CLI talking to the scripted model, which calls the runner's own
tools over the real ``/mcp`` endpoint with the turn's own credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from events.assistant import ConversationTurnEnded
from events.jobs import JobCreated
from projections.assistant import ConversationView
from runner.app import Runner
from runner.config import Config
from runner.service import Service
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.web.support import PASSWORD, serving

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
USER = "admin"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """One Service + web server for the module."""
    mp = pytest.MonkeyPatch()
    for key, value in (("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), ("DISABLE_TELEMETRY", "1"),
                       ("DISABLE_AUTOUPDATER", "1")):  # fmt: skip
        mp.setenv(key, value)
    import runner.service as service_mod

    mp.setattr(service_mod, "load_components", dict)
    tmp = tmp_path_factory.mktemp("assistant")
    try:
        with FakeAnthropicAPI() as api:
            config = Config(
                data_dir=tmp / "data",
                admin_password=PASSWORD,
                auth_env={"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": "sk-test-key-1"},
                max_api_retries=1,
            )
            async with Runner.open(config) as runner, anyio.create_task_group() as tg:
                service = Service(runner)
                await tg.start(service.run)
                async with serving(runner, service) as base:
                    yield {"base": base, "api": api, "runner": runner, "service": service}
                tg.cancel_scope.cancel()
    finally:
        mp.undo()


async def turn_ended(
    runner: Runner, cid: str, run_id: str, timeout: float = 90
) -> ConversationView:
    with anyio.fail_after(timeout):
        while True:
            conv = await runner.assistant.get(cid)
            turn = next(t for t in conv.turns if t.run_id == run_id)
            if turn.state != "running":
                return conv
            await anyio.sleep(0.1)


async def pending_approval(runner: Runner, run_id: str, timeout: float = 60) -> Any:
    with anyio.fail_after(timeout):
        while not (rows := await runner.approvals.pending(run_id=run_id)):
            await anyio.sleep(0.1)
    return rows[0]


async def test_conversation_creates_a_job_then_resumes_and_creates_a_webhook(
    stack: dict[str, Any],
) -> None:
    runner: Runner = stack["runner"]
    api: FakeAnthropicAPI = stack["api"]
    job = {
        "name": "AI news digest",
        "prompt": "Research today's AI news and email me a summary",
        "cron": "0 7 * * 1-5",
        "timezone": "UTC",
        "mcp_servers": ["email"],
        "ask_first": ["mcp__email__send"],
    }
    hook = {"name": "deploys", "prompt_template": "Summarise {{payload.ref}}"}
    marker = api.script(
        "asst-create",
        [
            Turn([ToolUse("mcp__runner__create_job", job)]),
            Text("Created the job 'AI news digest'."),
            Turn([ToolUse("mcp__runner__create_webhook", hook)]),
            Text("Created the webhook 'deploys'."),
        ],
    )
    conv, run = await runner.assistant.start(
        f"every weekday at 7 research AI news and email me a summary {marker}", user=USER
    )
    assert run.trigger == "assistant" and run.requested_by == USER
    assert run.spec.assistant is not None and run.spec.assistant.resume is None
    conv = await turn_ended(runner, conv.conversation_id, run.run_id)
    first = conv.turns[0]
    assert first.state == "succeeded", first
    assert first.session_id and conv.last_session == first.session_id
    assert "Created the job" in first.result_text

    created = await runner.queries.job_by_name("AI news digest")
    assert created is not None and created.spec.ask_first == ("mcp__email__send",)
    recs = await runner.store.read_stream(f"job-{created.job_id}")
    assert isinstance(recs[0].event, JobCreated)
    assert recs[0].meta.actor == f"{USER} via assistant"

    # Second turn: the same CLI session, resumed; the model sees the first turn.
    run2 = await runner.assistant.post(
        conv.conversation_id, "also a webhook for deploys", user=USER
    )
    assert run2.spec.assistant is not None and run2.spec.assistant.resume == first.session_id
    conv = await turn_ended(runner, conv.conversation_id, run2.run_id)
    assert conv.turns[1].state == "succeeded", conv.turns[1]
    assert [h.name for h in await runner.queries.webhooks()] == ["deploys"]
    second = [
        r for r in api.requests_for("asst-create") if "also a webhook" in " ".join(r.user_texts)
    ]
    assert second, "the second turn never reached the model"
    seen = " ".join(second[0].user_texts)
    assert "every weekday at 7" in seen  # the prior turn's messages came back through --resume
    assert second[0].headers.get("x-claude-code-session-id") == first.session_id
    ended = [
        r.event
        for r in await runner.store.read_stream(f"conversation-{conv.conversation_id}")
        if isinstance(r.event, ConversationTurnEnded)
    ]
    assert [e.run_id for e in ended] == [run.run_id, run2.run_id]
    # spend is attributed like any run's: the runs carry it, the conversation sums it
    runs = [await runner.queries.run(t.run_id) for t in conv.turns]
    assert conv.cost_usd == pytest.approx(sum(r.cost_usd for r in runs), abs=1e-6)
