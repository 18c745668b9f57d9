"""Shapes shared by the API and the pages: JSON of jobs, runs, events; schedule previews."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from quart import url_for
from werkzeug.routing import BuildError

from actors.cron import CronError, describe, next_fires, validate_cron, zone
from events.catalogue import EVENT_TYPES as CATALOGUE
from events.envelope import Recorded
from projections import JobView, RunView
from runner.errors import InvalidInput
from runner.redact import redact_event_data


def schedule(cron: str | None, tz: str, count: int = 3) -> dict[str, Any]:
    """The schedule in words and the next ``count`` fire times in the job's zone."""
    if not cron:
        return {"description": "manual only", "next": []}
    try:
        fires = next_fires(cron, tz, dt.datetime.now(dt.UTC), count)
        words = describe(cron)
    except (CronError, ValueError, KeyError):
        return {"description": cron, "next": []}
    z = ZoneInfo(tz)
    return {
        "description": f"{words} ({tz})",
        "next": [f.astimezone(z).isoformat(timespec="minutes") for f in fires],
    }


def preview(cron: str, tz: str, count: int = 3) -> dict[str, Any]:
    """Validate ``cron`` in ``tz`` and preview it; ``InvalidInput`` names the field at fault."""
    try:
        expr = validate_cron(cron)
        zone(tz or "UTC")
    except CronError as exc:
        raise InvalidInput(exc.message, field=exc.field)
    if not 1 <= count <= 20:
        raise InvalidInput("count must be between 1 and 20", field="count")
    return {"cron": expr, "timezone": tz, **schedule(expr, tz, count)}


def job_json(job: JobView) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(job)
    out["schedule"] = schedule(job.spec.cron, job.spec.timezone)
    return out


def run_json(run: RunView) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(run)
    out["cost_is_estimate"] = True
    return out


def event_json(rec: Recorded) -> dict[str, Any]:
    return {
        "position": rec.position,
        "stream": rec.stream,
        "version": rec.version,
        "type": rec.type,
        "recorded_at": rec.recorded_at.isoformat(),
        "actor": rec.meta.actor,
        "data": redact_event_data(msgspec.to_builtins(rec.event)),
    }


EVENT_TYPES: tuple[str, ...] = tuple(sorted(CATALOGUE))


def stream_link(stream: str) -> tuple[str, str] | None:
    """``(url, label)`` of the page a stream belongs to (run, job, webhook, server), if any."""
    kind, _, ident = stream.partition("-")
    try:
        if kind == "run":
            return url_for("pages.run", run_id=ident), "run page"
        if kind == "job":
            return url_for("pages.job", job_id=ident), "job page"
        if kind == "webhook":
            ident = ident.removeprefix("rejections-")
            return url_for("webhooks_pages.webhook", webhook_id=ident), "webhook page"
        if kind == "server":
            return url_for("servers_pages.server", name=ident), "server page"
    except BuildError:
        return None
    if stream == "settings":
        return url_for("pages.settings"), "settings"
    return None
