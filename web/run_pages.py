"""The run page's helpers and actions: where a run came from, why it waits, re-run, and the
change feed that keeps the lists moving (one hub client on every stream, run lifecycle only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

from markupsafe import Markup
from quart import Blueprint, Response, redirect, request, url_for

from events.runs import RunUsage, Usage
from projections import RunView
from projections.nodes import NODES, carrying, describe
from projections.queries import nodes as node_queries
from projections.read import select_rows
from web.auth import AnyResponse
from web.context import web
from web.estimate import estimate_usd
from web.live import output_row
from web.render import block_html
from web.sse import ALL, Hub

run_pages = Blueprint("run_pages", __name__)
ACTIVE = ("requested", "claimed", "running")
_LIST_EVENTS = (b"event: state\n", b"event: end\n", b"event: job\n")


def _slot(ts: float | None) -> Markup:
    if not ts:
        return Markup("")
    t = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return Markup(' slot <time class="rel" datetime="{}" title="{} UTC">{} UTC</time>').format(
        t.isoformat(timespec="seconds"), f"{t:%Y-%m-%d %H:%M}", f"{t:%Y-%m-%d %H:%M}"
    )


def who(actor: str) -> str:
    """A person-readable name for an event's actor."""
    if not actor:
        return ""
    if actor == "cli":
        return "the CLI"
    if actor.startswith("mcp:"):
        return f"MCP client {actor[4:]}"
    if actor.startswith("token:"):
        return f"API token “{actor[6:]}”"
    if actor in ("scheduler", "retrier", "webhook", "system"):
        return actor
    return f"dashboard user {actor}"


def origin(run: RunView) -> Markup:
    """What started ``run``, with links: schedule slot, webhook + delivery, retry of, who."""
    t = run.trigger
    if t in ("schedule", "catch_up"):
        label = "schedule" if t == "schedule" else "catch-up"
        return Markup('<span class="origin" data-trigger="{}">{}{}</span>').format(
            t, label, _slot(run.scheduled_for)
        )
    if t == "webhook" and run.webhook_id:
        hook = url_for("webhooks_pages.webhook", webhook_id=run.webhook_id)
        out = Markup('<span class="origin" data-trigger="webhook">webhook <a href="{}">{}</a>')
        out = out.format(hook, run.webhook_id)
        if run.delivery_id:
            d = url_for(
                "webhooks_pages.delivery", webhook_id=run.webhook_id, delivery_id=run.delivery_id
            )
            out += Markup(' · delivery <a href="{}">{}</a>').format(d, run.delivery_id[:14])
        return out + Markup("</span>")
    if t == "retry" and run.retry_of:
        return Markup(
            '<span class="origin" data-trigger="retry">retry {} of <a href="{}">{}</a></span>'
        ).format(run.attempt, url_for("pages.run", run_id=run.retry_of), run.retry_of)
    what = {"manual": "run now", "quick": "quick run", "mcp": "MCP"}.get(t, t)
    by = who(run.requested_by)
    return Markup('<span class="origin" data-trigger="{}">{}{}</span>').format(
        t, what, f" by {by}" if by and by not in ("system",) else ""
    )


_TRIGGER_WORDS = {"manual": "run now", "quick": "quick runs", "mcp": "MCP", "retry": "retries"}


async def source_names(series: dict[str, Any]) -> dict[str, str]:
    """Readable names of ``cost_by_source`` keys (job names, webhook names, trigger words)."""
    w = web()
    jobs = await w.wq.job_names()
    hooks = {h.webhook_id: h.name for h in await w.runner.queries.webhooks()}
    out: dict[str, str] = {}
    for key in series:
        kind, _, ident = key.partition(":")
        if kind == "job":
            out[key] = jobs.get(ident, ident)
        elif kind == "webhook":
            out[key] = f"webhook {hooks.get(ident, ident)}"
        else:
            out[key] = _TRIGGER_WORDS.get(ident, ident)
    return out


async def queue_reason(run: RunView) -> str | None:
    """Why a requested run has not started yet (slot n/N, overlap, retry delay, budget)."""
    if run.state != "requested":
        return None
    w = web()
    q = w.runner.queries
    settings = await q.settings()
    if run.not_before and run.not_before > dt.datetime.now(dt.UTC).timestamp():
        left = run.not_before - dt.datetime.now(dt.UTC).timestamp()
        return f"waiting {left:.0f} s before this retry may start (back-off)"
    active = await q.active_runs()
    running = [r for r in active if r.state in ("claimed", "running")]
    label = run.spec.node_label
    if label is not None:
        nodes = await select_rows(w.runner.store, NODES, node_queries.ALL)
        able = carrying(nodes, label)
        if not able:
            return (
                f"waiting for a node labelled {label!r}: none alive (live nodes: "
                f"{describe(nodes)}); start one with RUNNER_NODE_LABELS={label}"
            )
        return (
            f"waiting for a node labelled {label!r}: {describe(able)} alive but busy "
            f"({len(running)}/{settings.max_concurrent_runs} slots in use)"
        )
    if settings.daily_budget_usd is not None:
        spent = (await q.totals(since_day=dt.datetime.now(dt.UTC).date().isoformat()))["cost_usd"]
        if spent >= settings.daily_budget_usd:
            return (
                f"today's budget is spent (${spent:.4f} of ${settings.daily_budget_usd:.2f}); "
                "runs wait for tomorrow or a higher daily budget in Settings"
            )
    if run.job_id and any(r.job_id == run.job_id for r in running):
        return "waiting for this job's previous run to finish (overlap policy)"
    ahead = [
        r for r in active if r.state == "requested" and r.requested_at_us < run.requested_at_us
    ]
    if len(running) >= settings.max_concurrent_runs:
        return (
            f"waiting for a free slot: {len(running)}/{settings.max_concurrent_runs} runs "
            f"running, {len(ahead)} queued ahead of this one"
        )
    return f"about to start ({len(running)}/{settings.max_concurrent_runs} slots in use)"


async def trace_and_facts(run: RunView) -> tuple[list[Markup], int, dict[str, Any]]:
    """The trace blocks, the last log position they cover, and the token/cost/turn facts.

    A finished run's facts are the CLI's totals; an active run's are summed from its ``RunUsage``
    events (cost estimated from list prices), read in the same pass as its blocks so the live
    stream resumes exactly after them.
    """
    w = web()
    u = run.usage
    facts: dict[str, Any] = {
        "input": u.input_tokens, "output": u.output_tokens,
        "cache_write": u.cache_creation_input_tokens, "cache_read": u.cache_read_input_tokens,
        "cost": run.cost_usd, "turns": run.num_turns, "model": run.model, "estimate": False,
    }  # fmt: skip
    if run.state not in ACTIVE:
        rows = await w.runner.queries.output(run.run_id, limit=5000)
        return [block_html(x) for x in rows], (rows[-1].position if rows else 0), facts
    blocks: list[Markup] = []
    usage: dict[str, RunUsage] = {}
    last = 0
    for rec in await w.runner.store.read_stream(f"run-{run.run_id}"):
        last = rec.position
        row = output_row(rec)
        if row is not None:
            blocks.append(block_html(row))
        elif isinstance(rec.event, RunUsage):
            usage[rec.event.message_id] = rec.event
    total = sum((e.usage for e in usage.values()), Usage())
    facts.update(
        input=total.input_tokens,
        output=total.output_tokens,
        cache_write=total.cache_creation_input_tokens,
        cache_read=total.cache_read_input_tokens,
        cost=sum(estimate_usd(e.model, e.usage) for e in usage.values()),
        turns=len(usage),
        model=next((e.model for e in usage.values() if e.model), run.model),
        estimate=True,
    )
    return blocks[-5000:], last, facts


async def run_and_trace(run_id: str) -> tuple[RunView, list[Markup], int, dict[str, Any]]:
    """The run's view with its trace, last position and facts, read so that no state change
    falls between them. The view is read again after the trace: views are folded in the append's
    transaction, so it is then at least as new as the trace, and the live stream, which resumes
    after the trace's last position, brings whatever is newer. (Read only before the trace, a
    ``RunStarted`` committed in between left the page saying "claimed" until the run ended.)"""
    q = web().runner.queries
    run = await q.run(run_id)
    blocks, last, facts = await trace_and_facts(run)
    if run.state in ACTIVE:
        run = await q.run(run_id)
        if run.state not in ACTIVE:  # it ended meanwhile: show its whole trace and totals
            blocks, last, facts = await trace_and_facts(run)
    return run, blocks, last, facts


@run_pages.post("/runs/<run_id>/rerun")
async def rerun(run_id: str) -> AnyResponse:
    """Run the same thing again: the job as it is now, or the ad-hoc run's own settings."""
    w = web()
    old = await w.runner.queries.run(run_id)
    if old.job_id:
        new = await w.runner.runs.request_job(old.job_id, actor="admin")
    else:
        s = old.spec
        new, _ = await w.runner.runs.quick(
            s.prompt,
            tools=s.tools,
            mcp_servers=s.mcp_servers,
            model=s.model,
            timeout_seconds=s.timeout_seconds,
            max_turns=s.max_turns,
            budget_usd=s.budget_usd,
            actor="admin",
        )
    return redirect(url_for("pages.run", run_id=new.run_id))


async def change_frames(hub: Hub, last_id: int) -> AsyncGenerator[bytes, None]:
    """A ``change`` frame per run lifecycle event anywhere in the log, live (the page refetches
    itself, so a reconnect needs no replay); ends when the hub drops the client."""
    with hub.open(ALL) as client:
        yield b"retry: 2000\n\n"
        while True:
            frames = await client.next_batch()
            if not frames:
                return
            out: list[bytes] = []
            for pos, data in frames:
                if pos == 0:
                    out.append(data)
                elif pos > last_id and any(m in data[:40] for m in _LIST_EVENTS):
                    last_id = pos
                    out.append(f"id: {pos}\nevent: change\ndata: {{}}\n\n".encode())
            if out:
                yield b"".join(out)


@run_pages.get("/live/changes")
async def changes() -> Response:
    """Server-sent ``change`` events for the overview, runs and jobs lists."""
    raw = request.headers.get("Last-Event-ID", "")
    last = int(raw) if raw.isdigit() else 0
    resp = Response(
        change_frames(web().hub, last),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    resp.timeout = None
    return resp


def globals_for(app_globals: dict[str, Any]) -> None:
    """Template helpers this module offers (``origin``, ``who``)."""
    app_globals.update(origin=origin, who=who)
