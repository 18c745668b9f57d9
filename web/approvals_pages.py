"""Approvals in the dashboard and the API: the live panel of a run, the pending list, answers.

    GET  /approvals                               waiting tool calls, then recent answers
    POST /approvals/<id>/answer                   approve | deny (+ message); back to ``next``
    GET  /runs/<run_id>/approvals                 the run page's panel (HTML fragment, polled)
    GET  /api/v1/approvals?run_id=                waiting tool calls (JSON)
    GET  /api/v1/approvals/<id>                   one request and its outcome
    POST /api/v1/approvals/<id>                   {"decision": "approved"|"denied", "message"}

Sign-in and CSRF are checked by the app's guard. The run page includes the panel with one line
(``{% include "_approvals_panel.html" %}``); the panel loads its rows through the
``run_approvals`` template global, so the page's own view needs no change.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import msgspec
from quart import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WResponse

from actors.untrusted import segments
from projections.approvals import ApprovalView
from runner.errors import InvalidInput
from web.context import web

__all__ = ["approvals_pages", "install"]

approvals_pages = Blueprint("approvals_pages", __name__)


def _actor() -> str:
    return str(g.get("user") or "user")


def _back(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not (target.startswith("//") or "\\" in target)
        ):
            return target
    return url_for("approvals_pages.approvals")


def approval_json(a: ApprovalView) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(a)
    out["seconds_left"] = max(0, round(a.deadline - time.time())) if a.state == "pending" else 0
    return out


async def run_approvals(run_id: str) -> list[ApprovalView]:
    """Every approval request of a run, oldest first (a template global)."""
    return await web().runner.approvals.for_run(run_id)


def install(app: Any) -> None:
    """Register the blueprint and the template globals the panel uses."""
    app.register_blueprint(approvals_pages)
    app.jinja_env.globals.update(run_approvals=run_approvals, prompt_segments=segments)


@approvals_pages.get("/approvals")
async def approvals() -> str:
    w = web()
    pending = await w.runner.approvals.pending(limit=200)
    recent = await w.runner.approvals.recent(limit=50)
    return await render_template("approvals.html", pending=pending, recent=recent)


@approvals_pages.post("/approvals/<approval_id>/answer")
async def answer(approval_id: str) -> WResponse | tuple[str, int]:
    form = await request.form
    decision = "approved" if form.get("decision") == "approve" else "denied"
    if form.get("decision") not in ("approve", "deny"):
        raise InvalidInput("decision must be approve or deny", field="decision")
    message = form.get("message", "") if decision == "denied" else ""
    await web().runner.approvals.answer(approval_id, decision, by=_actor(), message=message)
    return redirect(_back(form.get("next")))


@approvals_pages.get("/runs/<run_id>/approvals")
async def panel(run_id: str) -> str:
    run = await web().runner.queries.run(run_id)  # 404 for an unknown run
    back = request.args.get("next")
    return await render_template(
        "_approvals_panel.html", run=run, approvals_next=_back(back) if back else None
    )


@approvals_pages.get("/api/v1/approvals")
async def api_list() -> Response:
    run_id = request.args.get("run_id") or None
    rows = await web().runner.approvals.pending(run_id=run_id, limit=200)
    return jsonify({"items": [approval_json(a) for a in rows]})


@approvals_pages.get("/api/v1/approvals/<approval_id>")
async def api_get(approval_id: str) -> Response:
    return jsonify(approval_json(await web().runner.approvals.get(approval_id)))


@approvals_pages.post("/api/v1/approvals/<approval_id>")
async def api_answer(approval_id: str) -> Response:
    from web.api import body

    await web().runner.approvals.get(approval_id)  # 404 before 422
    data = await body()
    decision = data.get("decision")
    message = data.get("message") or ""
    if not isinstance(decision, str) or not isinstance(message, str):
        raise InvalidInput('send {"decision": "approved"|"denied", "message": "…"}')
    row = await web().runner.approvals.answer(approval_id, decision, by=_actor(), message=message)
    return jsonify(approval_json(row))
