"""The run-output view: every block of every run's trace, in order (not held in memory)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from events.envelope import Recorded
from events.integrity import ContentErased
from events.runs import RunOutput, RunOutputTruncated, RunToolDenied
from projections.base import Change, Table, View, simple_projection


class OutputRow(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    position: int
    kind: str
    text: str = ""
    seq: int | None = None
    tool_name: str | None = None
    tool_use_id: str | None = None
    data: dict[str, Any] | None = None
    is_error: bool = False
    truncated: bool = False
    recorded_at_us: int = 0


OUTPUT = Table(
    name="v_run_output",
    row_type=OutputRow,
    columns=(("run_id", "TEXT"), ("position", "INTEGER"), ("kind", "TEXT")),
    extract=lambda r: (r.run_id, r.position, r.kind),
    indexes=("run_id, position",),
    memory=False,
)


def output_key(run_id: str, position: int) -> str:
    return run_id + ":" + str(position)


def _output(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, RunOutput)
    yield (
        OUTPUT.name,
        output_key(ev.run_id, rec.position),
        OutputRow(
            run_id=ev.run_id,
            position=rec.position,
            kind=ev.kind,
            text=ev.text,
            seq=ev.seq,
            tool_name=ev.tool_name,
            tool_use_id=ev.tool_use_id,
            data=ev.data,
            is_error=ev.is_error,
            truncated=ev.truncated,
            recorded_at_us=rec.recorded_at_us,
        ),
    )


def _denied(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, RunToolDenied)
    yield (
        OUTPUT.name,
        output_key(ev.run_id, rec.position),
        OutputRow(
            run_id=ev.run_id,
            position=rec.position,
            kind="denied",
            text=ev.reason,
            tool_name=ev.tool,
            tool_use_id=ev.tool_use_id,
            data={"target": ev.target} if ev.target else None,
            is_error=True,
            recorded_at_us=rec.recorded_at_us,
        ),
    )


def _truncated(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    assert isinstance(ev, RunOutputTruncated)
    yield (
        OUTPUT.name,
        output_key(ev.run_id, rec.position),
        OutputRow(
            run_id=ev.run_id,
            position=rec.position,
            kind="truncated",
            text=f"output truncated ({ev.limit}); {ev.dropped_chars} characters dropped",
            seq=ev.seq,
            truncated=True,
            recorded_at_us=rec.recorded_at_us,
        ),
    )


def _erased(view: View, rec: Recorded) -> Iterable[Change]:
    """Erased output stays in place as a marker: the trace shows where something was."""
    ev = rec.event
    assert isinstance(ev, ContentErased)
    for position in ev.positions:
        yield (
            OUTPUT.name,
            output_key(ev.run_id, position),
            OutputRow(
                run_id=ev.run_id,
                position=position,
                kind="erased",
                text=f"[erased by {ev.by}: {ev.reason}]",
                recorded_at_us=rec.recorded_at_us,
            ),
        )


output_projection = simple_projection(
    "output",
    (OUTPUT,),
    {
        RunOutput: _output,
        RunToolDenied: _denied,
        RunOutputTruncated: _truncated,
        ContentErased: _erased,
    },
)
