"""The assistant pages: list and start, a conversation with its turns, the approval of the live
turn inline (answered back to the conversation), bad input, CSRF, 404/403, escaping."""

from __future__ import annotations

import time

import pytest

from events.approvals import RunAwaitingApproval
from events.envelope import Meta
from events.ids import run_stream
from runner.app import Runner
from runner.commands.assistant import MAX_MESSAGE
from tests.web.support import Client

pytestmark = pytest.mark.anyio


async def test_start_list_and_show_a_conversation(client: Client, runner: Runner) -> None:
    page = await (await client.get("/assistant")).get_data(as_text=True)
    assert "No conversation yet" in page and 'href="/assistant"' in page  # in the nav
    resp = await client.form("/assistant", {"message": "make a <b>job</b> every morning"})
    assert resp.status_code == 302
    where = resp.headers["Location"]
    assert where.startswith("/assistant/conv_")
    conv = (await runner.assistant.of_user("admin"))[0]
    assert conv.title == "make a <b>job</b> every morning"
    run = await runner.queries.run(conv.turns[0].run_id)
    assert run.trigger == "assistant" and run.requested_by == "admin"
    page = await (await client.get(where)).get_data(as_text=True)
    assert "make a &lt;b&gt;job&lt;/b&gt; every morning" in page and "<b>job</b>" not in page
    assert 'data-stream="/api/v1/runs/' in page  # the live turn streams like any run
    assert "disabled" in page  # one message at a time
    listing = await (await client.get("/assistant")).get_data(as_text=True)
    assert where in listing and "answering" in listing
    # a second message while the first is answered: a clear 409, nothing written
    busy = await client.form(where, {"message": "and another"})
    assert busy.status_code == 409
    assert len((await runner.assistant.get(conv.conversation_id)).turns) == 1


async def test_bad_input_unknown_foreign_and_csrf(client: Client, runner: Runner) -> None:
    empty = await client.form("/assistant", {"message": "   "})
    assert empty.status_code == 422 and "empty" in await empty.get_data(as_text=True)
    huge = await client.form("/assistant", {"message": "x" * (MAX_MESSAGE + 1)})
    body = await huge.get_data(as_text=True)
    assert huge.status_code == 422 and f"at most {MAX_MESSAGE}" in body
    assert await runner.assistant.of_user("admin") == []
    assert (await client.get("/assistant/conv_nope")).status_code == 404
    assert (await client.get("/assistant/..%2f..%2fetc")).status_code == 404
    theirs, _ = await runner.assistant.start("mine", user="someone-else")
    assert (await client.get(f"/assistant/{theirs.conversation_id}")).status_code == 403
    no_csrf = await client.raw.post("/assistant", form={"message": "hi"})
    assert no_csrf.status_code == 403
    assert await runner.assistant.of_user("admin") == []


async def test_the_live_turns_approval_is_answered_inline(client: Client, runner: Runner) -> None:
    conv, run = await runner.assistant.start("delete the old job", user="admin")
    ev = RunAwaitingApproval(
        run_id=run.run_id,
        approval_id="apr_chat",
        tool="mcp__runner__delete_job",
        input={"job_id": "old"},
        deadline=time.time() + 600,
        reason="ask first: mcp__runner__delete_job",
    )
    await runner.store.append(run_stream(run.run_id), [ev], meta=Meta(actor="executor"))
    here = f"/assistant/{conv.conversation_id}"
    page = await (await client.get(here)).get_data(as_text=True)
    assert 'id="approval-apr_chat"' in page and "mcp__runner__delete_job" in page
    assert f'name="next" value="{here}"' in page
    panel = await (await client.get(f"/runs/{run.run_id}/approvals?next={here}")).get_data(
        as_text=True
    )
    assert f'value="{here}"' in panel
    resp = await client.form(
        "/approvals/apr_chat/answer", {"decision": "deny", "message": "not that one", "next": here}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == here
    row = await runner.approvals.get("apr_chat")
    assert row.state == "denied" and row.message == "not that one" and row.answered_by == "admin"


async def test_stop_cancels_the_answer_and_the_turn_ends_cancelled(
    client: Client, runner: Runner
) -> None:
    from runner.assistant_turns import AssistantTurns

    conv, run = await runner.assistant.start("a long task", user="admin")
    here = f"/assistant/{conv.conversation_id}"
    assert 'id="stop"' in await (await client.get(here)).get_data(as_text=True)
    resp = await client.form(f"{here}/stop", {})
    assert resp.status_code == 302 and resp.headers["Location"] == here
    assert (await runner.queries.run(run.run_id)).state == "cancelled"
    assert await AssistantTurns(runner).end(run.run_id)
    conv = await runner.assistant.get(conv.conversation_id)
    assert conv.active_run is None and conv.turns[0].state == "cancelled"
    assert (await client.form(f"{here}/stop", {})).status_code == 302  # nothing left to stop
    state = await (await client.get(f"{here}/state")).get_json()
    assert state["active_run"] is None and state["turns"] == 1


async def test_delete_from_the_page(client: Client, runner: Runner) -> None:
    from runner.assistant_turns import AssistantTurns

    conv, run = await runner.assistant.start("short lived", user="admin")
    here = f"/assistant/{conv.conversation_id}"
    assert 'id="delete"' not in await (await client.get(here)).get_data(as_text=True)
    assert (await client.form(f"{here}/delete", {})).status_code == 409  # still answering
    await runner.runs.cancel(run.run_id, actor="admin")
    await AssistantTurns(runner).end(run.run_id)
    assert 'id="delete"' in await (await client.get(here)).get_data(as_text=True)
    resp = await client.form(f"{here}/delete", {})
    assert resp.status_code == 302 and resp.headers["Location"] == "/assistant"
    assert (await client.get(here)).status_code == 404
    assert "No conversation yet" in await (await client.get("/assistant")).get_data(as_text=True)
