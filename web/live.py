"""A run's live trace over SSE: replay from the log after ``Last-Event-ID``, then live frames.

Frame ids are log positions. The hub client is registered *before* the log is read, so an event
committed meanwhile is in one or the other (or both: de-duplicated by position) — no gap, no
duplicate.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from events.backend import Backend
from events.envelope import Recorded
from events.runs import (
    TERMINAL_RUN_EVENTS,
    RunCancelRequested,
    RunClaimed,
    RunOutput,
    RunOutputTruncated,
    RunRequested,
    RunStarted,
    RunToolDenied,
    RunUsage,
)
from projections import OutputRow
from web.estimate import estimate_usd
from web.render import block_html
from web.sse import Hub

END_MARK = b"\nevent: end\n"
_STATE_OF: dict[type, str] = {
    RunRequested: "requested",
    RunClaimed: "claimed",
    RunStarted: "running",
}


def output_row(rec: Recorded) -> OutputRow | None:
    """The trace block an event adds (same shape as the ``v_run_output`` view)."""
    ev = rec.event
    base: dict[str, Any] = {"position": rec.position, "recorded_at_us": rec.recorded_at_us}
    if isinstance(ev, RunOutput):
        return OutputRow(
            run_id=ev.run_id,
            kind=ev.kind,
            text=ev.text,
            seq=ev.seq,
            tool_name=ev.tool_name,
            tool_use_id=ev.tool_use_id,
            data=ev.data,
            is_error=ev.is_error,
            truncated=ev.truncated,
            **base,
        )
    if isinstance(ev, RunToolDenied):
        return OutputRow(
            run_id=ev.run_id,
            kind="denied",
            text=ev.reason,
            tool_name=ev.tool,
            tool_use_id=ev.tool_use_id,
            data={"target": ev.target} if ev.target else None,
            is_error=True,
            **base,
        )
    if isinstance(ev, RunOutputTruncated):
        return OutputRow(
            run_id=ev.run_id,
            kind="truncated",
            text=f"output truncated ({ev.limit}); {ev.dropped_chars} characters dropped",
            truncated=True,
            **base,
        )
    return None


def frame(position: int | None, event: str, data: dict[str, Any]) -> bytes:
    head = f"id: {position}\n" if position is not None else ""
    body = json.dumps(data, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


def encode(rec: Recorded) -> bytes | None:
    """The SSE frame of one run event (None for events the live view does not show); a job's
    events become ``job`` frames, which only the lists' change feed listens to."""
    if rec.stream.startswith("job-"):
        return frame(rec.position, "job", {})
    row = output_row(rec)
    if row is not None:
        return frame(rec.position, "block", {"html": str(block_html(row)), "kind": row.kind})
    ev = rec.event
    if isinstance(ev, TERMINAL_RUN_EVENTS):
        state = rec.type.removeprefix("Run").lower()
        state = {"timedout": "timed_out"}.get(state, state)
        return frame(rec.position, "end", {"state": state, "at": rec.recorded_at_us})
    if isinstance(ev, RunUsage):
        u = ev.usage
        return frame(
            rec.position,
            "usage",
            {
                "input": u.input_tokens,
                "output": u.output_tokens,
                "cache_write": u.cache_creation_input_tokens,
                "cache_read": u.cache_read_input_tokens,
                "model": ev.model,
                "message": ev.message_id,
                "cost": round(estimate_usd(ev.model, u), 6),
            },
        )
    at = rec.recorded_at_us
    if isinstance(ev, RunCancelRequested):
        return frame(rec.position, "state", {"state": "cancelling", "at": at})
    label = _STATE_OF.get(type(ev))
    if label:
        return frame(rec.position, "state", {"state": label, "at": at})
    return None


def is_end(data: bytes) -> bool:
    return END_MARK in data[:40]


async def run_frames(hub: Hub, store: Backend, run_id: str, last_id: int) -> AsyncIterator[bytes]:
    """Every frame of ``run_id`` after position ``last_id``, then live until the run ends."""
    stream = f"run-{run_id}"
    with hub.open(stream) as client:
        sent = last_id
        yield b"retry: 1000\n\n"
        for rec in await store.read_stream(stream):
            if isinstance(rec.event, TERMINAL_RUN_EVENTS) and rec.position <= sent:
                data = encode(rec)
                if data is not None:  # already delivered: tell the browser to stop anyway
                    yield data
                return
            if rec.position <= sent:
                continue
            data = encode(rec)
            sent = rec.position
            if data is not None:
                yield data
                if is_end(data):
                    return
        while True:
            frames = await client.next_batch()
            if not frames:
                return  # dropped as too slow, or shutdown: the browser resumes
            out: list[bytes] = []
            done = False
            for pos, data in frames:
                if pos == 0:
                    out.append(data)  # keep-alive comment
                    continue
                if pos <= sent:
                    continue
                sent = pos
                out.append(data)
                if is_end(data):
                    done = True
                    break
            if out:
                yield b"".join(out)  # one write for a burst
            if done:
                return
