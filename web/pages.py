"""Server-rendered dashboard pages (Jinja, escaped by default; no inline script)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import msgspec
from quart import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from projections.nodes import NODES
from projections.queries import nodes as node_queries
from projections.read import select_rows
from runner.approvals_input import APPROVAL_FIELDS
from runner.commands.bulk_cancel import CancelFilter
from runner.errors import CommandError, InvalidInput
from runner.queries import RunFilter
from web.api import RUN_STATES, TRIGGERS, run_filter
from web.auth import AnyResponse, client_address, csrf_token, password_version, safe_next
from web.context import web
from web.form_labels import friendly
from web.history_view import log_context, stream_context
from web.job_form import field_errors, form_context, job_form_data, values_of
from web.list_paging import PAGE, job_schedule, keyset_links, keyset_pager, pager, run_cursor
from web.list_paging import offset_arg as _offset
from web.render import cost_chart
from web.run_pages import queue_reason, run_and_trace, source_names
from web.settings_page import settings

pages = Blueprint("pages", __name__)
STREAM_RE = re.compile(r"^[a-z]+-[A-Za-z0-9_.:-]{1,100}$|^(settings|service)$")


def _us(d: dt.datetime) -> int:
    return int(d.timestamp() * 1_000_000)


async def health_facts() -> dict[str, Any]:
    """The service's health, or what the web process alone can tell."""
    w = web()
    if w.service is not None:
        facts: dict[str, Any] = dict(w.service.status())
    else:
        facts = {"actors": {}, "queue_depth": 0, "cli": {"found": None}, "auth": None,
                 "sandbox": {"available": None}, "database": {}}  # fmt: skip
    facts["sse_clients"] = w.hub.clients
    facts["nodes"] = [
        {"node": n.node, "labels": list(n.labels), "instance": n.instance}
        for n in await select_rows(w.runner.store, NODES, node_queries.ALL)
    ]
    return facts


def _banner(facts: dict[str, Any]) -> str | None:
    chain = facts.get("chain") or {}
    if chain.get("ok") is False:
        return f"The log is READ-ONLY: {chain.get('detail')}"
    cli = facts.get("cli") or {}
    if cli.get("found") is False:
        return (
            "The Claude Code CLI was not found: runs will fail until it is installed "
            "(or RUNNER_CLI_PATH points at it). Everything else keeps working."
        )
    auth = facts.get("auth")
    if auth in ("none", None, "") and "auth" in facts and cli.get("found"):
        return (
            "Claude Code is not authenticated: set ANTHROPIC_API_KEY (or cloud credentials) "
            "or log the CLI in, then restart. Runs will fail until then."
        )
    sandbox_warning = (facts.get("sandbox") or {}).get("warning")
    if sandbox_warning:
        return str(sandbox_warning)
    return None


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("pages.overview"))


# --- sign in ------------------------------------------------------------------------------


@pages.route("/login", methods=["GET", "POST"])
async def login() -> AnyResponse | tuple[str, int] | str:
    w = web()
    nxt = _safe_next(request.args.get("next"))
    if request.method != "POST":
        csrf_token()
        return await render_template("login.html", next=nxt, error=None)
    who = client_address()
    wait = w.limiter.retry_after(who)
    if wait > 0:
        page = await render_template(
            "login.html", next=nxt, error=f"Too many attempts; try again in {int(wait) + 1} s."
        )
        return Response(page, 429, headers={"Retry-After": str(int(wait) + 1)})
    form = await request.form
    user = str(form.get("username", "admin"))[:100]
    ok = await w.access.check_login(user, str(form.get("password", ""))[:1000])
    if not ok:
        w.limiter.failed(who)
        return await render_template("login.html", next=nxt, error="Wrong user or password."), 401
    w.limiter.succeeded(who)
    admin = await w.access.admin(user)
    assert admin is not None
    session.clear()
    session.permanent = True
    session["user"] = user
    session["pwv"] = password_version(admin.password_hash)
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    session["sid"] = await w.access.start_session(user, lifetime)
    csrf_token()
    return redirect(nxt)


@pages.post("/logout")
async def logout() -> AnyResponse:
    """End this session (``everywhere=1``: every session) in the log, then forget the cookie."""
    access = web().access
    if (await request.form).get("everywhere") == "1":
        await access.end_all_sessions(reason="revoked")
    else:
        await access.end_session(str(session.get("sid") or ""))
    session.clear()
    return redirect(url_for("pages.login"))


@pages.get("/healthz")
async def healthz() -> Any:
    chain = web().runner.store.chain
    if not chain.ok:  # read-only on a broken chain: an operator must act (red, 503)
        return {"ok": False, "read_only": True, "position": chain.position,
                "detail": chain.detail}, 503  # fmt: skip
    return {"ok": True}


# --- overview -----------------------------------------------------------------------------


@pages.get("/")
async def overview() -> str:
    w = web()
    q = w.runner.queries
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    week = today - dt.timedelta(days=today.weekday())
    by = request.args.get("by", "")
    by = by if by in ("model", "source") else "job"
    if by == "source":
        labels, series = await w.wq.cost_by_source(days=14)
        names = await source_names(series)
    else:
        labels, series = await w.wq.cost_series(days=14, by=by)
        names = await w.wq.job_names() if by == "job" else {}
    failures, failure_count = await w.wq.failures_since(_us(now - dt.timedelta(hours=24)))
    facts = await health_facts()
    return await render_template(
        "overview.html",
        today=await q.totals(since_day=today.isoformat()),
        week=await q.totals(since_day=week.isoformat()),
        total=await q.totals(),
        chart=cost_chart(labels, series, names),
        by=by,
        running=(active := await q.active_runs())[:20],
        running_count=len(active),
        failures=failures,
        failure_count=failure_count,
        health=facts,
        banner=_banner(facts),
    )


# --- jobs ---------------------------------------------------------------------------------


@pages.get("/jobs")
async def jobs() -> str:
    w = web()
    search = request.args.get("q", "")[:200]
    if "offset" in request.args:  # older links: offset paging still answers
        offset = _offset()
        items, total = await w.wq.jobs_page(search=search, offset=offset, limit=PAGE)
        paging = pager(offset, len(items), total)
    else:  # keyset: ?after=<job id>
        after = request.args.get("after", "")[:100] or None
        items, nxt, total = await w.wq.jobs_after(search=search, after=after, limit=PAGE)
        paging = keyset_links("after", nxt, first_page=after is None, shown=len(items))
    rows = [(j, job_schedule(j)) for j in items]
    return await render_template("jobs.html", rows=rows, total=total, search=search, **paging)


@pages.get("/jobs/suggest")
async def job_suggest() -> dict[str, Any]:
    """Type-ahead for job filters: the first jobs whose name contains ``q``."""
    found = await web().wq.job_suggestions(request.args.get("q", ""))
    return {"jobs": [{"id": i, "name": n} for i, n in found]}


@pages.route("/jobs/new", methods=["GET", "POST"])
async def job_new() -> AnyResponse | tuple[str, int] | str:
    w = web()
    if request.method != "POST":
        ctx = await form_context({"timezone": "UTC", "enabled": True, "tools": []})
        return await render_template("job_form.html", job=None, errors={}, **ctx)
    form = await request.form
    data = job_form_data(form)
    values = {**data, "extra_tools": form.get("extra_tools", "")}
    errors = await field_errors(data)
    try:
        if errors:
            raise InvalidInput(next(iter(errors.values())))
        job, _ = await w.runner.jobs.create(data, actor="admin")
    except CommandError as exc:
        ctx = await form_context(values)
        errors = errors or {exc.field or "form": friendly(exc.message)}
        return await render_template("job_form.html", job=None, errors=errors, **ctx), exc.status
    return redirect(url_for("pages.job", job_id=job.job_id))


@pages.get("/jobs/<job_id>")
async def job(job_id: str) -> str:
    w = web()
    j = await w.runner.queries.job(job_id)
    runs = await w.runner.queries.runs(RunFilter(job_id=job_id), limit=20)
    sched = job_schedule(j)
    return await render_template("job.html", job=j, sched=sched, runs=runs.items, total=runs.total)


@pages.route("/jobs/<job_id>/edit", methods=["GET", "POST"])
async def job_edit(job_id: str) -> AnyResponse | tuple[str, int] | str:
    w = web()
    j = await w.runner.queries.job(job_id)
    if request.method != "POST":
        ctx = await form_context(values_of(j.spec))
        return await render_template("job_form.html", job=j, errors={}, **ctx)
    form = await request.form
    data = job_form_data(form)
    data["retry"] = {**msgspec.to_builtins(j.spec.retry), **data["retry"]}  # keep unshown fields
    try:
        version = int(form.get("version", ""))
    except ValueError:
        version = None
    errors = await field_errors(data)
    try:
        if errors:
            raise InvalidInput(next(iter(errors.values())))
        await w.runner.jobs.update(job_id, data, actor="admin", expected_version=version)
    except CommandError as exc:
        ctx = await form_context({**data, "extra_tools": form.get("extra_tools", "")})
        errors = errors or {exc.field or "form": friendly(exc.message)}
        return await render_template("job_form.html", job=j, errors=errors, **ctx), exc.status
    return redirect(url_for("pages.job", job_id=job_id))


@pages.route("/jobs/<job_id>/delete", methods=["GET", "POST"])
async def job_delete(job_id: str) -> AnyResponse | str:
    w = web()
    j = await w.runner.queries.job(job_id)
    if request.method != "POST":
        return await render_template("job_delete.html", job=j)
    await w.runner.jobs.delete(job_id, actor="admin")
    return redirect(url_for("pages.jobs"))


@pages.post("/jobs/<job_id>/<action>")
async def job_action(job_id: str, action: str) -> AnyResponse:
    w = web()
    if action == "pause":
        await w.runner.jobs.pause(job_id, actor="admin")
    elif action == "resume":
        await w.runner.jobs.resume(job_id, actor="admin")
    elif action == "run":
        run = await w.runner.runs.request_job(job_id, actor="admin")
        return redirect(url_for("pages.run", run_id=run.run_id))
    elif action == "cancel-queued":
        await w.runner.bulk_cancel.cancel(CancelFilter(job_id=job_id), actor="admin")
    else:
        abort(404)
    return redirect(request.referrer if _same_origin(request.referrer) else url_for("pages.jobs"))


def _same_origin(ref: str | None) -> bool:
    return bool(ref) and urlsplit(ref or "").netloc == request.host


# --- runs ---------------------------------------------------------------------------------


@pages.get("/runs")
async def runs() -> tuple[str, int] | str:
    w = web()
    errors: dict[str, str] = {}
    try:
        filt = run_filter(request.args)
        offset = max(0, int(request.args.get("offset") or 0))
    except CommandError as exc:
        errors[exc.field or "form"] = exc.message
        filt, offset = RunFilter(), 0
    except ValueError:
        errors["offset"] = "offset must be a whole number"
        filt, offset = RunFilter(), 0
    filt.webhook_id = request.args.get("webhook_id", "")[:100] or None
    job_name = await w.wq.job_name(filt.job_id) if filt.job_id else None
    if filt.job_id and job_name is None:  # typed a name rather than picking a suggestion
        named = await w.runner.queries.job_by_name(filt.job_id[:200])
        if named is None:
            errors["job_id"] = f"no job has the id or name “{filt.job_id[:200]}”"
        else:
            filt.job_id, job_name = named.job_id, named.spec.name
    if "offset" in request.args:  # older links: offset paging still answers
        page = await w.runner.queries.runs(filt, limit=PAGE, offset=offset)
        items, total, paging = page.items, page.total, pager(offset, len(page.items), page.total)
    else:  # keyset: ?before=<requested_at_us>.<run_id>
        before = run_cursor(request.args.get("before", ""))
        items, nxt = await w.wq.runs_before(filt, before=before, limit=PAGE)
        total = (await w.runner.queries.runs(filt, limit=1)).total
        paging = keyset_pager(nxt, first_page=before is None)
    html = await render_template(
        "runs.html",
        items=items,
        total=total,
        args=request.args,
        errors=errors,
        states=RUN_STATES,
        triggers=TRIGGERS,
        job_name=job_name,
        job_id=filt.job_id,
        **paging,
    )
    return (html, 422) if errors else html


@pages.get("/runs/<run_id>")
async def run(run_id: str) -> str:
    w = web()
    r, blocks, last, live = await run_and_trace(run_id)
    spend = await w.runner.queries.run_spend(run_id)
    return await render_template(
        "run.html",
        run=r,
        blocks=blocks,
        last=last,
        live=live,
        queued=await queue_reason(r),
        spend=spend,
    )


@pages.post("/runs/<run_id>/cancel")
async def run_cancel(run_id: str) -> AnyResponse:
    try:
        await web().runner.runs.cancel(run_id, actor="admin", reason="killed from the dashboard")
    except CommandError as exc:
        if exc.status == 404:
            raise
    return redirect(url_for("pages.run", run_id=run_id))


@pages.route("/quick", methods=["GET", "POST"])
async def quick() -> AnyResponse | tuple[str, int] | str:
    w = web()
    if request.method != "POST":
        values: dict[str, Any] = {"tools": []}
        source = request.args.get("from", "")
        if source:  # edit and run again: start from that run's own settings
            spec = (await w.runner.queries.run(source[:100])).spec
            values = values_of(spec)
        ctx = await form_context(values)
        return await render_template("quick.html", errors={}, source=source, **ctx)
    form = await request.form
    data = job_form_data(form)
    errors = await field_errors({**data, "name": "quick run", "cron": None, "timezone": "UTC"})
    try:
        if errors:
            raise InvalidInput(next(iter(errors.values())))
        r, _ = await w.runner.runs.quick(
            form.get("prompt", ""),
            tools=data["tools"],
            mcp_servers=data["mcp_servers"],
            model=data["model"],
            timeout_seconds=data["timeout_seconds"],
            budget_usd=data["budget_usd"],
            actor="admin",
            approvals={k: data[k] for k in APPROVAL_FIELDS},
            node_label=data["node_label"],
        )
    except CommandError as exc:
        ctx = await form_context({**data, "extra_tools": form.get("extra_tools", "")})
        errors = errors or {exc.field or "form": friendly(exc.message)}
        return await render_template("quick.html", errors=errors, **ctx), exc.status
    return redirect(url_for("pages.run", run_id=r.run_id))


# --- history, settings --------------------------------------------------------------------


@pages.get("/history")
async def history_all() -> str:
    """The log newest first, filtered by type and stream (exact, or a kind such as ``run-``)."""
    return await render_template("history.html", **await log_context(request.args))


@pages.get("/history/<stream>")
async def history(stream: str) -> str:
    if not STREAM_RE.match(stream):
        abort(404)
    ctx = await stream_context(stream)
    if ctx is None:
        abort(404)
    return await render_template("history.html", **ctx)


# Settings and API tokens (web/settings_page.py); the endpoint stays ``pages.settings``.
pages.add_url_rule("/settings", view_func=settings, methods=["GET", "POST"])
