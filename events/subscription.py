"""Catch-up-then-live subscriptions with no gap and no duplicate at the seam."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from events.bus import Bus, BusTap
from events.envelope import Recorded
from events.store import Subscription

PageReader = Callable[[int, int], Awaitable[list[Recorded]]]


class CatchUpSubscription(Subscription):
    """Attach to the bus first, then read stored events; live ones are de-duplicated by position.

    A subscriber the bus cut off for lagging simply catches up from storage again.
    """

    def __init__(
        self,
        bus: Bus,
        read_page: PageReader,
        from_position: int,
        *,
        page: int = 1000,
        buffer: int = 10_000,
    ) -> None:
        self.position = from_position
        self._bus = bus
        self._read_page = read_page
        self._page = page
        self._buffer = buffer
        self._tap: BusTap | None = None
        self._catching_up = True
        self._backlog: deque[Recorded] = deque()
        self._closed = False
        #: How many times the bus cut this subscriber off and it caught up from storage again.
        self.lag_recoveries = 0

    def __aiter__(self) -> AsyncIterator[Recorded]:
        return self

    async def __anext__(self) -> Recorded:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._backlog:
                first = self._backlog.popleft()
                self.position = first.position
                return first
            if self._bus.closed:  # the store is shutting down: end instead of reading
                self._closed = True
                raise StopAsyncIteration
            if self._tap is None:
                self._tap = self._bus.attach(self._buffer)
                self._catching_up = True
            if self._catching_up:
                rows = await self._read_page(self.position, self._page)
                if rows:
                    self._backlog.extend(rows)
                    continue
                self._catching_up = False
            tap = self._tap
            rec: Recorded | None
            try:
                rec = tap.receive.receive_nowait()
            except anyio.WouldBlock:
                try:
                    rec = await tap.receive.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    rec = None
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                rec = None
            if rec is None:
                if not tap.lagged:  # the bus closed: the store is shutting down
                    self._closed = True
                    raise StopAsyncIteration
                self._bus.detach(tap)
                self._tap = None
                self.lag_recoveries += 1
                continue
            if rec.position <= self.position:
                continue
            if rec.position != self.position + 1:
                self._backlog.clear()
                self._catching_up = True
                continue
            self.position = rec.position
            return rec

    async def aclose(self) -> None:
        self._closed = True
        if self._tap is not None:
            self._bus.detach(self._tap)
            self._tap = None
