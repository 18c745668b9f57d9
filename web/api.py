"""The JSON API under ``/api/v1``: every dashboard action, for scripts (Bearer tokens)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from quart import Blueprint, Response, g, jsonify, request

from events.ids import job_stream, run_stream
from runner.commands.bulk_cancel import CancelFilter
from runner.errors import InvalidInput
from runner.queries import MAX_PAGE, RunFilter
from web.api_input import json_body
from web.context import web
from web.live import run_frames
from web.openapi import openapi_document
from web.openapi_schemas import MAX_INT, RUN_STATES, TRIGGERS
from web.run_pages import queue_reason
from web.views import event_json, job_json, preview, run_json

api = Blueprint("api", __name__, url_prefix="/api/v1")
__all__ = ["RUN_STATES", "TRIGGERS", "api", "body", "int_arg", "run_filter"]


def actor() -> str:
    return str(g.get("user") or "user")


async def body() -> dict[str, Any]:
    """The request's JSON object, or a 400/422 error saying what is wrong."""
    return await json_body()


def int_arg(
    name: str, default: int | None, *, low: int = 0, high: int | None = MAX_INT
) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, got {raw!r}", field=name)
    if value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{name} must be {span}", field=name)
    return value


def paging(default: int = 50) -> tuple[int, int]:
    limit = int_arg("limit", default, low=1)
    offset = int_arg("offset", 0, low=0)
    assert limit is not None and offset is not None
    return min(limit, MAX_PAGE), offset


def page_json(
    items: list[Any],
    limit: int,
    offset: int,
    total: int,
    next_cursor: str | None = None,
    *,
    keyset: bool = False,
) -> dict[str, Any]:
    """A page; ``next_cursor`` (keyset) is the fast way on, ``next_offset`` the old one."""
    nxt = offset + len(items)
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "total": total,
        "next_offset": nxt if nxt < total and next_cursor is not None and not keyset else None,
        "next_cursor": next_cursor,
    }


def date_arg(name: str) -> dt.date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        raise InvalidInput(f"{name} must be a date such as 2026-01-31, got {raw!r}", field=name)


def run_filter(args: Any) -> RunFilter:
    state = args.get("state") or None
    trigger = args.get("trigger") or None
    if state and state not in RUN_STATES:
        raise InvalidInput(f"state must be one of {', '.join(RUN_STATES)}", field="state")
    if trigger and trigger not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}", field="trigger")
    since, until = date_arg("since"), date_arg("until")

    def us(d: dt.date | None, extra: int = 0) -> int | None:
        if d is None:
            return None
        if d == dt.date.max and extra:
            return MAX_INT  # an empty range (until before since) simply matches nothing
        t = dt.datetime.combine(d + dt.timedelta(days=extra), dt.time(), tzinfo=dt.UTC)
        return int(t.timestamp() * 1_000_000)

    return RunFilter(
        job_id=args.get("job_id") or None,
        state=state,
        trigger=trigger,
        since_us=us(since),
        until_us=us(until, 1),
    )


def created(data: Any) -> tuple[Response, int]:
    return jsonify(data), 201


# --- meta ---------------------------------------------------------------------------------


@api.get("/openapi.json")
async def openapi() -> Response:
    return jsonify(openapi_document())


@api.get("/health")
async def health() -> Response:
    from web.pages import health_facts

    return jsonify(await health_facts())


@api.post("/cron/preview")
async def cron_preview() -> Response:
    data = await body()
    count = data.get("count", 3)
    if not isinstance(count, int):
        raise InvalidInput("count must be a whole number", field="count")
    return jsonify(preview(str(data.get("cron") or ""), str(data.get("timezone") or "UTC"), count))


# --- jobs ---------------------------------------------------------------------------------


@api.get("/jobs")
async def list_jobs() -> Response:
    limit, offset = paging()
    cursor = request.args.get("cursor") or None
    page = await web().runner.queries.jobs(limit=limit, offset=offset, cursor=cursor)
    items = [job_json(j) for j in page.items]
    return jsonify(
        page_json(items, limit, offset, page.total, page.next_cursor, keyset=bool(cursor))
    )


@api.post("/jobs")
async def create_job() -> tuple[Response, int]:
    job, warnings = await web().runner.jobs.create(await body(), actor=actor())
    return created({"job": job_json(job), "warnings": warnings})


@api.get("/jobs/<job_id>")
async def get_job(job_id: str) -> Response:
    return jsonify(job_json(await web().runner.queries.job(job_id)))


@api.route("/jobs/<job_id>", methods=["PATCH", "PUT"])
async def update_job(job_id: str) -> Response:
    data = await body()
    version = data.pop("expected_version", None)
    if isinstance(version, float) and version.is_integer():
        version = int(version)  # JSON has one number type: 3.0 is the whole number 3
    if version is not None and not isinstance(version, int):
        raise InvalidInput("expected_version must be a whole number", field="expected_version")
    job, warnings = await web().runner.jobs.update(
        job_id, data, actor=actor(), expected_version=version
    )
    return jsonify({"job": job_json(job), "warnings": warnings})


@api.delete("/jobs/<job_id>")
async def delete_job(job_id: str) -> Response:
    cancelled = await web().runner.jobs.delete(job_id, actor=actor())
    return jsonify({"deleted": job_id, "cancelled_runs": cancelled})


@api.post("/jobs/<job_id>/pause")
async def pause_job(job_id: str) -> Response:
    return jsonify(job_json(await web().runner.jobs.pause(job_id, actor=actor())))


@api.post("/jobs/<job_id>/resume")
async def resume_job(job_id: str) -> Response:
    return jsonify(job_json(await web().runner.jobs.resume(job_id, actor=actor())))


@api.post("/jobs/<job_id>/run")
async def run_job(job_id: str) -> tuple[Response, int]:
    run = await web().runner.runs.request_job(job_id, actor=actor())
    return created(run_json(run))


@api.get("/jobs/<job_id>/events")
async def job_events(job_id: str) -> Response:
    await web().runner.queries.job(job_id)  # 404 for unknown ids
    return await _events(job_stream(job_id))


# --- runs ---------------------------------------------------------------------------------


@api.get("/runs")
async def list_runs() -> Response:
    limit, offset = paging()
    cursor = request.args.get("cursor") or None
    filt = run_filter(request.args)
    page = await web().runner.queries.runs(filt, limit=limit, offset=offset, cursor=cursor)
    items = [run_json(r) for r in page.items]
    return jsonify(
        page_json(items, limit, offset, page.total, page.next_cursor, keyset=bool(cursor))
    )


@api.get("/runs/<run_id>")
async def get_run(run_id: str) -> Response:
    q = web().runner.queries
    out = run_json(await q.run(run_id))
    out["spend"] = await q.run_spend(run_id)  # the relay's metered spend vs budget
    out["queue_reason"] = await queue_reason(await q.run(run_id))
    return jsonify(out)


@api.get("/runs/<run_id>/output")
async def run_output(run_id: str) -> Response:
    q = web().runner.queries
    await q.run(run_id)
    after = int_arg("after", 0) or 0
    limit = int_arg("limit", 1000, low=1, high=5000) or 1000
    rows = await q.output(run_id, after_position=after, limit=limit)
    items = [msgspec.to_builtins(r) for r in rows]
    return jsonify({"items": items, "next_after": rows[-1].position if rows else after})


@api.get("/runs/<run_id>/events")
async def run_events(run_id: str) -> Response:
    await web().runner.queries.run(run_id)
    return await _events(run_stream(run_id))


@api.get("/runs/<run_id>/stream")
async def stream_run(run_id: str) -> Response:
    """Server-sent events: ``block``, ``state``, ``usage``, ``end``; ids are log positions."""
    w = web()
    await w.runner.queries.run(run_id)
    raw = request.headers.get("Last-Event-ID") or request.args.get("after") or "0"
    try:
        last = max(0, int(raw))
    except ValueError:
        raise InvalidInput("Last-Event-ID must be a log position (a whole number)", field="after")
    resp = Response(
        run_frames(w.hub, w.runner.store, run_id, last),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    resp.timeout = None
    return resp


@api.post("/runs/<run_id>/cancel")
async def cancel_run(run_id: str) -> Response:
    data = await body()
    reason = str(data.get("reason") or "")[:500]
    return jsonify(run_json(await web().runner.runs.cancel(run_id, actor=actor(), reason=reason)))


@api.post("/runs/<run_id>/erase")
async def erase_run(run_id: str) -> Response:
    data = await body()
    reason = str(data.get("reason") or "")
    return jsonify(await web().runner.erasure.erase_run(run_id, by=actor(), reason=reason))


@api.post("/runs/cancel")
async def cancel_runs() -> Response:
    """Bulk cancel: the queued (and with include_running, running) runs a filter selects."""
    data = await body()
    unknown = set(data) - {"job_id", "webhook_id", "trigger", "include_running", "all", "reason"}
    if unknown:
        raise InvalidInput(
            f"unknown fields {sorted(unknown)}; valid: job_id, webhook_id, trigger, "
            "include_running, all, reason"
        )
    for key in ("job_id", "webhook_id", "trigger", "reason"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidInput(f"{key} must be a string", field=key)
    for key in ("include_running", "all"):
        if not isinstance(data.get(key, False), bool):
            raise InvalidInput(f"{key} must be true or false", field=key)
    filt = CancelFilter(
        job_id=data.get("job_id") or None,
        webhook_id=data.get("webhook_id") or None,
        trigger=data.get("trigger") or None,
        include_running=bool(data.get("include_running", False)),
        everything=bool(data.get("all", False)),
    )
    reason = str(data.get("reason") or "")[:500]
    result = await web().runner.bulk_cancel.cancel(filt, actor=actor(), reason=reason)
    return jsonify(msgspec.to_builtins(result))


@api.post("/quick-run")
async def quick_run() -> tuple[Response, int]:
    data = await body()
    allowed = {"prompt", "tools", "mcp_servers", "model", "timeout_seconds", "max_turns",
               "budget_usd", "node_label"}  # fmt: skip
    unknown = set(data) - allowed
    if unknown:
        raise InvalidInput(f"unknown fields {sorted(unknown)}; valid: {', '.join(sorted(allowed))}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidInput("prompt is required (a string)", field="prompt")
    for key in ("tools", "mcp_servers"):
        val = data.get(key, [])
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            raise InvalidInput(f"{key} must be a list of names", field=key)
    run, warnings = await web().runner.runs.quick(
        prompt,
        tools=data.get("tools", []),
        mcp_servers=data.get("mcp_servers", []),
        model=data.get("model"),
        timeout_seconds=data.get("timeout_seconds"),
        max_turns=data.get("max_turns"),
        budget_usd=data.get("budget_usd"),
        actor=actor(),
        node_label=data.get("node_label"),
    )
    return created({"run": run_json(run), "warnings": warnings})


# --- costs, settings, history, tokens -----------------------------------------------------


@api.get("/costs")
async def costs() -> Response:
    group_by = request.args.get("group_by", "day")
    end = date_arg("end") or dt.datetime.now(dt.UTC).date()
    start = date_arg("start") or end - dt.timedelta(days=29)
    if (end - start).days > 3660:
        raise InvalidInput("the range is limited to 10 years", field="start")
    q = web().runner.queries
    items = await q.costs(start=start, end=end, group_by=group_by)
    return jsonify(
        {
            "group_by": group_by,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "items": items,
            "total": await q.totals(),
            "cost_is_estimate": True,
        }
    )


@api.get("/settings")
async def get_settings() -> Response:
    return jsonify(msgspec.to_builtins(await web().runner.queries.settings()))


@api.route("/settings", methods=["PUT", "PATCH"])
async def put_settings() -> Response:
    settings = await web().runner.settings.change(await body(), actor=actor())
    return jsonify(msgspec.to_builtins(settings))


async def _events(stream: str) -> Response:
    limit, _ = paging(200)
    after = int_arg("after", 0) or 0
    recs = await web().wq.stream_page(stream, after=after, limit=limit)
    return jsonify(
        {
            "stream": stream,
            "items": [event_json(r) for r in recs],
            "next_after": recs[-1].position if len(recs) == limit else None,
        }
    )


@api.get("/events")
async def log_events() -> Response:
    """The whole log (or one ``stream``), oldest first, keyset-paged by ``after``."""
    stream = request.args.get("stream")
    if stream:
        return await _events(stream)
    limit, _ = paging(200)
    after = int_arg("after", 0) or 0
    recs = await web().wq.log_page(after=after, limit=limit)
    return jsonify(
        {
            "items": [event_json(r) for r in recs],
            "next_after": recs[-1].position if len(recs) == limit else None,
        }
    )


@api.get("/tokens")
async def list_tokens() -> Response:
    toks = await web().access.tokens()
    items = [{k: v for k, v in msgspec.to_builtins(t).items() if k != "token_hash"} for t in toks]
    return jsonify({"items": items})


@api.post("/tokens")
async def create_token() -> tuple[Response, int]:
    data = await body()
    name = data.get("name")
    if not isinstance(name, str):
        raise InvalidInput("name is required (a string)", field="name")
    tok = await web().access.create_token(name, actor=actor())
    out = msgspec.to_builtins(tok)
    out["note"] = "store this token now: it is shown only once"
    return created(out)


@api.delete("/tokens/<token_id>")
async def revoke_token(token_id: str) -> Response:
    tok = await web().access.revoke_token(token_id, actor=actor())
    return jsonify({k: v for k, v in msgspec.to_builtins(tok).items() if k != "token_hash"})
