"""The envelope every stored event travels in."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from events.catalogue import Event

ExpectedVersion = int | Literal["any", "no_stream", "exists"]
ANY: Literal["any"] = "any"
NO_STREAM: Literal["no_stream"] = "no_stream"
EXISTS: Literal["exists"] = "exists"


class Meta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Why and by whom an event was written."""

    actor: str = "system"
    correlation_id: str | None = None
    causation_id: str | None = None
    schema: int = 1


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """A committed event: its place in the global order and in its stream, and its hash."""

    position: int
    stream: str
    version: int
    type: str
    event: Event
    meta: Meta
    recorded_at_us: int
    hash: str

    @property
    def recorded_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.recorded_at_us / 1_000_000, tz=dt.UTC)


class AppendRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Events for one stream, appended only if the stream is at ``expected``."""

    stream: str
    events: tuple[Event, ...]
    expected: ExpectedVersion = ANY
    meta: Meta = Meta()


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
