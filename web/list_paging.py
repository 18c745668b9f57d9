"""Paging and schedule helpers shared by the dashboard's lists (offset pages, a pager's links)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import request

from projections import JobView
from web.views import schedule

PAGE = 50


def offset_arg(name: str = "offset") -> int:
    raw = request.args.get(name, "")
    return min(int(raw), 10**9) if raw.isdigit() else 0


def pager(offset: int, shown: int, total: int, *, size: int = PAGE) -> dict[str, Any]:
    """``prev_url``/``next_url`` keeping the other query arguments, and the range shown."""
    args = {k: v for k, v in request.args.items() if k != "offset" and v}
    nxt = "?" + urlencode({**args, "offset": offset + size}) if offset + shown < total else None
    prev = "?" + urlencode({**args, "offset": max(0, offset - size)}) if offset > 0 else None
    return {
        "prev_url": prev,
        "next_url": nxt,
        "first": offset + 1 if shown else 0,
        "last_shown": offset + shown,
    }


def run_cursor(raw: str) -> tuple[int, str] | None:
    """``<requested_at_us>.<run_id>`` from a ``before`` argument (None when absent or odd)."""
    at, _, run_id = raw.partition(".")
    if not at.isdigit() or not run_id or len(run_id) > 100:
        return None
    return int(at), run_id


def keyset_pager(cursor: tuple[int, str] | None, *, first_page: bool) -> dict[str, Any]:
    """Links for keyset pages: older (from ``cursor``) and back to the newest."""
    args = {k: v for k, v in request.args.items() if k not in ("before", "offset") and v}
    older = "?" + urlencode({**args, "before": f"{cursor[0]}.{cursor[1]}"}) if cursor else None
    newest = "?" + urlencode(args) if not first_page else None
    return {"prev_url": newest, "next_url": older, "first": None, "last_shown": None}


def keyset_links(arg: str, cursor: str | None, *, first_page: bool, shown: int) -> dict[str, Any]:
    """Links for keyset pages continuing after ``cursor`` in ``arg``, and back to the start."""
    args = {k: v for k, v in request.args.items() if k not in (arg, "offset") and v}
    nxt = "?" + urlencode({**args, arg: cursor}) if cursor else None
    start = "?" + urlencode(args) if not first_page else None
    return {"prev_url": start, "next_url": nxt, "first": None, "last_shown": shown}


def job_schedule(job: JobView) -> dict[str, Any]:
    """The schedule in words and next fires; a paused job has no next fires."""
    sched = schedule(job.spec.cron, job.spec.timezone)
    if not job.enabled:
        sched = {**sched, "next": [], "paused": True}
    return sched


def page_in_memory(items: list[Any], name_of: Any, *, size: int = PAGE) -> dict[str, Any]:
    """Search (``q``, name contains) and page a short list held in memory (webhooks, servers)."""
    search = request.args.get("q", "").strip()[:200]
    if search:
        items = [i for i in items if search.lower() in str(name_of(i)).lower()]
    offset = offset_arg()
    shown = items[offset : offset + size]
    return {
        "items": shown,
        "total": len(items),
        "search": search,
        **pager(offset, len(shown), len(items), size=size),
    }
