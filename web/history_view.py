"""What the Events page shows: the log newest first (keyset-paged, filtered by type and stream)
or one stream, each event linked to the page its stream belongs to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from web.context import web
from web.views import EVENT_TYPES, event_json, stream_link

PAGE = 100


async def log_context(args: Any) -> dict[str, Any]:
    """Template values for the whole log: ``before`` (a position), ``type``, ``stream``."""
    raw = args.get("before", "")
    before = int(raw) if raw.isdigit() else None
    type_ = args.get("type", "").strip()[:100]
    stream = args.get("stream", "").strip()[:200]
    recs = await web().wq.log_newest(before=before, limit=PAGE, type_=type_, stream=stream)
    keep = {k: v for k, v in (("type", type_), ("stream", stream)) if v}
    older = recs[-1].position if len(recs) == PAGE else None
    return {
        "stream": None,
        "items": [event_json(r) for r in recs],
        "links": [stream_link(r.stream) for r in recs],
        "older_url": "?" + urlencode({**keep, "before": older}) if older else None,
        "newer_url": "?" + urlencode(keep) if before else None,
        "type_": type_,
        "stream_filter": stream,
        "types": EVENT_TYPES,
    }


async def stream_context(stream: str) -> dict[str, Any] | None:
    """Template values for one stream (its last 2,000 events, newest first); None if empty."""
    recs = await web().runner.store.read_stream(stream)
    if not recs:
        return None
    recs = recs[-2000:][::-1]
    return {
        "stream": stream,
        "owner": stream_link(stream),
        "items": [event_json(r) for r in recs],
        "links": [None] * len(recs),
        "older_url": None,
        "newer_url": None,
        "type_": "",
        "stream_filter": "",
        "types": EVENT_TYPES,
    }
