"""Server-rendered dashboard pages (Jinja, escaped by default; no inline script)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
from quart import Blueprint, Response, abort, redirect, render_template, request, session, url_for

from projections.settings import BUILTIN_TOOLS
from runner.approvals_input import APPROVAL_FIELDS
from runner.errors import CommandError, InvalidInput
from runner.queries import RunFilter
from runner.settings import validate_changes
from web.api import RUN_STATES, TRIGGERS, run_filter
from web.auth import AnyResponse, client_address, csrf_token, password_version
from web.context import web
from web.job_form import field_errors, form_context, job_form_data, values_of
from web.render import block_html, cost_chart
from web.views import event_json, schedule

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
    return facts


def _banner(facts: dict[str, Any]) -> str | None:
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
    return None


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("pages.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.overview")
    return target


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
    csrf_token()
    return redirect(nxt)


@pages.post("/logout")
async def logout() -> AnyResponse:
    session.clear()
    return redirect(url_for("pages.login"))


@pages.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"ok": True}


# --- overview -----------------------------------------------------------------------------


@pages.get("/")
async def overview() -> str:
    w = web()
    q = w.runner.queries
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    week = today - dt.timedelta(days=today.weekday())
    by = "model" if request.args.get("by") == "model" else "job"
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
        running=await q.active_runs(),
        failures=failures,
        failure_count=failure_count,
        health=facts,
        banner=_banner(facts),
    )


# --- jobs ---------------------------------------------------------------------------------


@pages.get("/jobs")
async def jobs() -> str:
    page = await web().runner.queries.jobs()
    rows = [(j, schedule(j.spec.cron, j.spec.timezone)) for j in page.items]
    return await render_template("jobs.html", rows=rows, total=page.total)


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
        errors = errors or {exc.field or "form": exc.message}
        return await render_template("job_form.html", job=None, errors=errors, **ctx), exc.status
    return redirect(url_for("pages.job", job_id=job.job_id))


@pages.get("/jobs/<job_id>")
async def job(job_id: str) -> str:
    w = web()
    j = await w.runner.queries.job(job_id)
    runs = await w.runner.queries.runs(RunFilter(job_id=job_id), limit=20)
    sched = schedule(j.spec.cron, j.spec.timezone)
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
        errors = errors or {exc.field or "form": exc.message}
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
    page = await w.runner.queries.runs(filt, limit=50, offset=offset)
    args = {k: v for k, v in request.args.items() if k != "offset" and v}
    nxt = (
        "?" + urlencode({**args, "offset": offset + 50})
        if offset + len(page.items) < page.total
        else None
    )
    prev = "?" + urlencode({**args, "offset": max(0, offset - 50)}) if offset > 0 else None
    html = await render_template(
        "runs.html",
        page=page,
        args=request.args,
        errors=errors,
        states=RUN_STATES,
        triggers=TRIGGERS,
        jobs=await w.wq.job_names(),
        next_url=nxt,
        prev_url=prev,
    )
    return (html, 422) if errors else html


@pages.get("/runs/<run_id>")
async def run(run_id: str) -> str:
    w = web()
    r = await w.runner.queries.run(run_id)
    rows = await w.runner.queries.output(run_id, limit=5000)
    last = rows[-1].position if rows else 0
    blocks = [block_html(x) for x in rows]
    return await render_template("run.html", run=r, blocks=blocks, last=last)


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
        ctx = await form_context({"tools": []})
        return await render_template("quick.html", errors={}, **ctx)
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
        )
    except CommandError as exc:
        ctx = await form_context({**data, "extra_tools": form.get("extra_tools", "")})
        errors = errors or {exc.field or "form": exc.message}
        return await render_template("quick.html", errors=errors, **ctx), exc.status
    return redirect(url_for("pages.run", run_id=r.run_id))


# --- history, settings --------------------------------------------------------------------


@pages.get("/history")
async def history_all() -> str:
    raw = request.args.get("after", "")
    after = int(raw) if raw.isdigit() else 0
    recs = await web().wq.log_page(after=after, limit=100)
    items = [event_json(r) for r in recs]
    nxt = recs[-1].position if len(recs) == 100 else None
    return await render_template("history.html", stream=None, items=items, next_after=nxt)


@pages.get("/history/<stream>")
async def history(stream: str) -> str:
    if not STREAM_RE.match(stream):
        abort(404)
    w = web()
    recs = await w.runner.store.read_stream(stream)
    if not recs:
        abort(404)
    items = [event_json(r) for r in recs[-2000:]]
    return await render_template("history.html", stream=stream, items=items, next_after=None)


@pages.route("/settings", methods=["GET", "POST"])
async def settings() -> tuple[str, int] | str:
    w = web()
    errors: dict[str, str] = {}
    new_token = None
    status = 200
    if request.method == "POST":
        form = await request.form
        action = form.get("action", "settings")
        try:
            if action == "settings":
                changes: dict[str, Any] = {
                    "max_concurrent_runs": form.get("max_concurrent_runs", ""),
                    "default_model": form.get("default_model", ""),
                    "default_timeout_seconds": form.get("default_timeout_seconds", ""),
                    "default_budget_usd": form.get("default_budget_usd", "").strip() or None,
                    "daily_budget_usd": form.get("daily_budget_usd", "").strip() or None,
                    "allowed_builtin_tools": form.getlist("allowed_builtin_tools"),
                    "sandbox_mode": form.get("sandbox_mode", ""),
                }
                current = msgspec.to_builtins(await w.runner.queries.settings())
                wanted = validate_changes(changes)
                diff = {k: v for k, v in wanted.items() if current.get(k) != v}
                if diff:
                    await w.runner.settings.change(diff, actor="admin")
            elif action == "create_token":
                new_token = await w.access.create_token(form.get("name", ""), actor="admin")
            elif action == "revoke_token":
                await w.access.revoke_token(form.get("token_id", ""), actor="admin")
        except CommandError as exc:
            key = exc.field or "form"
            errors["token_" + key if action == "create_token" else key] = exc.message
            status = exc.status
    html = await render_template(
        "settings.html",
        s=await w.runner.queries.settings(),
        tools=BUILTIN_TOOLS,
        tokens=await w.access.tokens(),
        new_token=new_token,
        errors=errors,
    )
    return html, status
