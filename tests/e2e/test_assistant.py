"""The dashboard assistant end to end: a real Service (claimer, executor, relay, sandbox) and web
server, the real Claude Code CLI talking to the scripted model, which calls the runner's own
tools over the real ``/mcp`` endpoint with the turn's own credential."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from events.assistant import AssistantCallRefused, ConversationTurnEnded
from events.jobs import JobCreated
from projections.assistant import ConversationView
from runner.app import Runner
from runner.config import Config
from runner.secrets import KEY_FILE_NAME
from runner.service import Service
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.web.support import PASSWORD, serving

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
USER = "admin"
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
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


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


def tool_results(api: FakeAnthropicAPI, script: str) -> str:
    """Everything the model was sent back in this script's requests (tool results included)."""
    return "\n".join(json.dumps(r.body or {}) for r in api.requests_for(script))


async def a_job(runner: Runner, name: str) -> str:
    job, _ = await runner.jobs.create({"name": name, "prompt": "say hi"}, actor=USER)
    return job.job_id


async def test_destructive_call_waits_for_approval_inline_approve_then_deny(
    stack: dict[str, Any],
) -> None:
    runner: Runner = stack["runner"]
    api: FakeAnthropicAPI = stack["api"]
    await a_job(runner, "old digest")
    await a_job(runner, "keep me")
    marker = api.script(
        "asst-delete",
        [
            Turn([ToolUse("mcp__runner__delete_job", {"job_id": "old digest"})]),
            Text("Deleted 'old digest'."),
            Turn([ToolUse("mcp__runner__delete_job", {"job_id": "keep me"})]),
            Text("Understood, I kept it."),
        ],
    )
    conv, run = await runner.assistant.start(f"delete the old digest {marker}", user=USER)
    asked = await pending_approval(runner, run.run_id)
    assert asked.tool == "mcp__runner__delete_job" and asked.input == {"job_id": "old digest"}
    assert await runner.queries.job_by_name("old digest") is not None  # held, not done
    await runner.approvals.answer(asked.approval_id, "approved", by=USER)
    conv = await turn_ended(runner, conv.conversation_id, run.run_id)
    assert conv.turns[0].state == "succeeded", conv.turns[0]
    assert await runner.queries.job_by_name("old digest") is None

    run2 = await runner.assistant.post(conv.conversation_id, "and delete 'keep me'", user=USER)
    asked = await pending_approval(runner, run2.run_id)
    # the CLI of the second turn was started with --resume=<the first turn's session>
    service: Service = stack["service"]
    cmdlines = [
        read_quietly(Path(f"/proc/{p}/cmdline")).split("\0")
        for p in process_tree(service.executor.active_pids[run2.run_id])
    ]
    assert any(f"--resume={conv.last_session}" in c for c in cmdlines), cmdlines
    await runner.approvals.answer(
        asked.approval_id, "denied", by=USER, message="no, keep that one forever"
    )
    conv = await turn_ended(runner, conv.conversation_id, run2.run_id)
    assert await runner.queries.job_by_name("keep me") is not None
    assert "no, keep that one forever" in tool_results(api, "asst-delete")  # the model saw it


async def test_the_assistant_cannot_answer_approvals(stack: dict[str, Any]) -> None:
    """The model tries to approve its own held call: refused, recorded; the user decides."""
    runner: Runner = stack["runner"]
    api: FakeAnthropicAPI = stack["api"]
    await a_job(runner, "precious")
    marker = api.script(
        "asst-self",
        [
            Turn(
                [
                    ToolUse("mcp__runner__delete_job", {"job_id": "precious"}),
                    ToolUse("mcp__runner__list_pending_approvals", {}),
                ]
            ),
            Turn(
                [
                    ToolUse(
                        "mcp__runner__answer_approval",
                        {"approval_id": "apr_mine", "decision": "approved"},
                    )
                ]
            ),
            Text("I could not approve it myself."),
        ],
    )
    conv, run = await runner.assistant.start(
        f"delete precious, approve it yourself {marker}", user=USER
    )
    asked = await pending_approval(runner, run.run_id)
    await runner.approvals.answer(asked.approval_id, "denied", by=USER, message="no")
    conv = await turn_ended(runner, conv.conversation_id, run.run_id)
    assert await runner.queries.job_by_name("precious") is not None
    sent = tool_results(api, "asst-self")
    assert "the assistant may not answer approvals" in sent, sent[-3000:]
    refused = [
        r.event
        for r in await runner.store.read_stream(f"conversation-{conv.conversation_id}")
        if isinstance(r.event, AssistantCallRefused)
    ]
    assert [(e.tool, e.run_id) for e in refused] == [("answer_approval", run.run_id)]
    assert conv.refusals and "answer_approval" in conv.refusals[0]
    row = await runner.approvals.get(asked.approval_id)
    assert row.state == "denied" and row.answered_by == USER


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def read_quietly(path: Path) -> str:
    try:
        return path.read_bytes().decode("latin-1")
    except OSError:
        return ""


async def test_no_service_secret_reaches_a_turn_and_its_credential_dies_with_it(
    stack: dict[str, Any],
) -> None:
    """While a turn waits for approval: every process of it (environment, command line), its
    config dir (mcp.json, transcripts) and workspace hold no admin password, model key or
    service key. After the run: the turn's credential is refused and its file is gone."""
    runner: Runner = stack["runner"]
    api: FakeAnthropicAPI = stack["api"]
    service: Service = stack["service"]
    data = runner.config.data_dir
    await a_job(runner, "doomed")
    marker = api.script(
        "asst-leak",
        [Turn([ToolUse("mcp__runner__delete_job", {"job_id": "doomed"})]), Text("ok")],
    )
    conv, run = await runner.assistant.start(f"delete doomed {marker}", user=USER)
    asked = await pending_approval(runner, run.run_id)
    mcp_json = data / "assistant" / conv.conversation_id / "config" / "mcp.json"
    assert oct(mcp_json.stat().st_mode & 0o777) == "0o600"
    assert oct(mcp_json.parent.stat().st_mode & 0o777) == "0o700"
    config = json.loads(mcp_json.read_text())["mcpServers"]["runner"]
    assert config["type"] == "http" and config["url"].endswith("/mcp")
    token = config["headers"]["Authorization"].removeprefix("Bearer ")
    pid = service.executor.active_pids[run.run_id]
    seen: dict[str, str] = {}
    for p in process_tree(pid):
        seen[f"environ {p}"] = read_quietly(Path(f"/proc/{p}/environ"))
        seen[f"cmdline {p}"] = read_quietly(Path(f"/proc/{p}/cmdline"))
    assert len(seen) >= 4, seen.keys()
    assert any("CLAUDE_CONFIG_DIR" in v for v in seen.values())
    for root in (mcp_json.parent, data / "workspaces" / f"assistant-{conv.conversation_id}"):
        for f in root.rglob("*"):
            if f.is_file():
                seen[f"file {f}"] = read_quietly(f)
    async with httpx2.AsyncClient(base_url=stack["base"], timeout=30) as http:
        live = await http.post(
            "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        )
        assert live.status_code == 200
        await runner.approvals.answer(asked.approval_id, "approved", by=USER)
        conv = await turn_ended(runner, conv.conversation_id, run.run_id)
        dead = await http.post(
            "/mcp", json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        )
        assert dead.status_code == 401
    assert not mcp_json.exists()
    assert any(f.suffix == ".jsonl" for f in mcp_json.parent.rglob("*")), "no transcript kept"
    # after the run: the log, the views and the data dir hold no copy of the turn's credential
    with sqlite3.connect(data / "runner.db", timeout=10) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for n, row in enumerate(db.execute(f'SELECT * FROM "{table}"')):
                seen[f"row {table}#{n}"] = " ".join(
                    v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                )
    for f in data.rglob("*"):
        if f.is_file() and f.name != KEY_FILE_NAME:
            seen[f"after {f}"] = read_quietly(f)
    key_lines = [
        line.strip()
        for line in (data / KEY_FILE_NAME).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needles = {
        "admin password": {PASSWORD},
        "model key": {"sk-test-key-1"},
        "secret key": set(key_lines),
    }
    hits = [
        (n, w)
        for n, vs in needles.items()
        for w, text in seen.items()
        if any(v in text for v in vs)
    ]
    assert hits == [], hits[:10]
    token_hits = [
        w
        for w, text in seen.items()
        if token in text and not w.startswith(("environ", "cmdline", "file"))
    ]
    assert token_hits == [], token_hits[:10]
