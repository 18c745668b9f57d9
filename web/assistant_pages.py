"""The assistant in the dashboard: conversations with Claude that act through the runner's own
MCP tools.

    GET  /assistant                 the user's conversations (latest first) + a new message
    POST /assistant                 start a conversation with its first message
    GET  /assistant/<id>            the conversation: turns, the live turn, approvals inline
    GET  /assistant/<id>/state      its progress as JSON (the page's fallback to the stream)
    POST /assistant/<id>            the next message (resumes the last recorded session)
    POST /assistant/<id>/stop       stop the message being answered
    POST /assistant/<id>/delete     delete it (its runs stay; its CLI transcripts go)

Sign-in and CSRF are checked by the app's guard. A conversation of another user is refused
(403), an unknown one is 404; an empty or over-long message is shown back with what to fix.
The live turn reuses the run page's pieces: the trace and its SSE stream (``static/run.js``)
and the approvals panel (``_approvals_panel.html`` + ``static/approvals.js``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from markupsafe import Markup
from quart import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WResponse

from projections.assistant import ConversationView
from runner.commands.assistant import MAX_MESSAGE
from runner.errors import CommandError, InvalidInput
from web.context import web
from web.run_pages import trace_and_facts

__all__ = ["assistant_pages"]

assistant_pages = Blueprint("assistant_pages", __name__)


def _user() -> str:
    return str(g.get("user") or "user")


@assistant_pages.get("/assistant")
async def conversations() -> str:
    rows = await web().runner.assistant.of_user(_user(), limit=200)
    return await render_template(
        "assistant.html", conversations=rows, max_message=MAX_MESSAGE, error=None, text=""
    )


@assistant_pages.post("/assistant")
async def start() -> WResponse | tuple[str, int]:
    text = (await request.form).get("message", "")
    try:
        conv, _run = await web().runner.assistant.start(text, user=_user())
    except InvalidInput as exc:
        rows = await web().runner.assistant.of_user(_user(), limit=200)
        html = await render_template(
            "assistant.html",
            conversations=rows,
            max_message=MAX_MESSAGE,
            error=exc.message,
            text=text[:MAX_MESSAGE],
        )
        return html, 422
    return redirect(url_for("assistant_pages.conversation", conversation_id=conv.conversation_id))


class Step(msgspec.Struct, frozen=True):
    """One tool call of a finished turn, as the conversation lists it."""

    tool: str
    target: str
    failed: bool
    approval: str = ""
    """How its approval ended (``approved by admin``), if it asked."""


TARGET_KEYS = ("name", "job_id", "webhook_id", "run_id", "server_name", "approval_id")


async def steps_of(run_id: str) -> list[Step]:
    """The tool calls of a turn, with whether each failed (refused, denied, invalid)."""
    w = web()
    rows = await w.runner.queries.output(run_id, limit=400)
    answered = {
        a.tool_use_id: f"{a.state.replace('_', ' ')}"
        + (f" by {a.answered_by}" if a.answered_by else "")
        for a in await w.runner.approvals.for_run(run_id)
        if a.tool_use_id
    }
    failed = {r.tool_use_id for r in rows if r.kind == "tool_result" and r.is_error}
    out: list[Step] = []
    for r in rows:
        if r.kind != "tool_use" or not r.tool_name:
            continue
        data = r.data or {}
        args = data.get("input", data) if isinstance(data, dict) else {}
        target = next(
            (str(args[k]) for k in TARGET_KEYS if isinstance(args, dict) and args.get(k)), ""
        )
        tool = r.tool_name.removeprefix("mcp__runner__")
        asked = answered.get(r.tool_use_id or "", "")
        out.append(Step(tool, target[:120], r.tool_use_id in failed, asked))
    return out


async def _page(conv: ConversationView, *, error: str | None = None, text: str = "") -> str:
    w = web()
    steps = {t.run_id: await steps_of(t.run_id) for t in conv.turns[-20:] if t.state != "running"}
    active: Any = None
    blocks: list[Markup] = []
    last = 0
    if conv.active_run is not None:
        active = await w.runner.queries.run(conv.active_run)
        blocks, last, _facts = await trace_and_facts(active)
    here = url_for("assistant_pages.conversation", conversation_id=conv.conversation_id)
    return await render_template(
        "assistant_conversation.html",
        conv=conv,
        run=active,
        blocks=blocks,
        last=last,
        approvals_next=here,
        steps=steps,
        max_message=MAX_MESSAGE,
        error=error,
        text=text,
    )


@assistant_pages.get("/assistant/<conversation_id>")
async def conversation(conversation_id: str) -> str:
    conv = await web().runner.assistant.get(conversation_id[:100], user=_user())
    return await _page(conv)


@assistant_pages.get("/assistant/<conversation_id>/state")
async def state(conversation_id: str) -> Response:
    """The conversation's progress (the page reloads when its turn has ended)."""
    conv = await web().runner.assistant.get(conversation_id[:100], user=_user())
    return jsonify(
        {
            "conversation_id": conv.conversation_id,
            "active_run": conv.active_run,
            "turns": len(conv.turns),
            "cost_usd": conv.cost_usd,
        }
    )


@assistant_pages.post("/assistant/<conversation_id>/stop")
async def stop(conversation_id: str) -> WResponse:
    """Stop the message being answered (its run is cancelled; the turn ends ``cancelled``)."""
    w = web()
    conv = await w.runner.assistant.get(conversation_id[:100], user=_user())
    if conv.active_run is not None:
        try:
            await w.runner.runs.cancel(
                conv.active_run, actor=_user(), reason="stopped from the conversation"
            )
        except CommandError as exc:
            if exc.status != 409:  # already finished: nothing to stop
                raise
    return redirect(url_for("assistant_pages.conversation", conversation_id=conv.conversation_id))


@assistant_pages.post("/assistant/<conversation_id>/delete")
async def delete(conversation_id: str) -> WResponse:
    """Delete the conversation (its runs stay in the run history)."""
    await web().runner.assistant.delete(conversation_id[:100], user=_user())
    return redirect(url_for("assistant_pages.conversations"))


@assistant_pages.post("/assistant/<conversation_id>")
async def post(conversation_id: str) -> WResponse | tuple[str, int]:
    w = web()
    conv = await w.runner.assistant.get(conversation_id[:100], user=_user())
    text = (await request.form).get("message", "")
    try:
        await w.runner.assistant.post(conv.conversation_id, text, user=_user())
    except InvalidInput as exc:
        return await _page(conv, error=exc.message, text=text[:MAX_MESSAGE]), 422
    return redirect(url_for("assistant_pages.conversation", conversation_id=conv.conversation_id))
