"""The ``EventStore`` interface. Implementations: ``events.sqlite_store.SQLiteEventStore``."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from typing import Any

from events.catalogue import Event
from events.envelope import ANY, AppendRequest, AppendResult, ExpectedVersion, Meta, Recorded

_NO_META = Meta()


class Subscription(abc.ABC):
    """Catch-up then live: every event after the start position, in order, once."""

    position: int

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Recorded]: ...

    @abc.abstractmethod
    async def __anext__(self) -> Recorded: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class EventStore(abc.ABC):
    """An append-only log of events in streams, with optimistic concurrency per stream."""

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        *,
        expected: ExpectedVersion = ANY,
        meta: Meta | None = None,
    ) -> AppendResult:
        """Append ``events`` to ``stream`` if it is at ``expected``; else ``ConcurrencyError``.

        ``expected`` is the version of the stream's last event, ``"no_stream"``, ``"exists"``
        or ``"any"``. Versions start at 0.
        """
        req = AppendRequest(
            stream=stream, events=tuple(events), expected=expected, meta=meta or _NO_META
        )
        (result,) = await self.append_atomic([req])
        return result

    @abc.abstractmethod
    async def append_atomic(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        """Append to several streams in one all-or-nothing unit."""

    @abc.abstractmethod
    async def read_stream(self, stream: str, *, from_version: int = 0) -> list[Recorded]:
        """One stream's events from ``from_version`` on (empty if the stream does not exist)."""

    @abc.abstractmethod
    def read_all(
        self, *, from_position: int = 0, to_position: int | None = None
    ) -> AsyncIterator[Recorded]:
        """Every event with ``from_position < position <= to_position``, in order, paged."""

    @abc.abstractmethod
    async def stream_version(self, stream: str) -> int:
        """The version of the stream's last event, or -1 when it has none."""

    @abc.abstractmethod
    async def head(self) -> int:
        """The position of the last committed event (0 for an empty log)."""

    @abc.abstractmethod
    def subscribe(self, *, from_position: int = 0) -> Subscription:
        """Every event after ``from_position``: stored ones first, then live ones."""
