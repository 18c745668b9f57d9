"""In-process fan-out of committed events to subscribers, never blocking the publisher.

Each subscriber gets a bounded buffer. A subscriber that falls behind is cut off (its stream
ends with ``lagged`` set) instead of slowing the journal down; ``Subscription`` then catches up
from the database and re-attaches, so no subscriber ever misses an event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from events.envelope import Recorded

log = logging.getLogger("events.bus")


class BusTap:
    """One subscriber's buffer."""

    def __init__(self, max_buffer: int) -> None:
        send, receive = anyio.create_memory_object_stream[Recorded](max_buffer)
        self._send: MemoryObjectSendStream[Recorded] = send
        self.receive: MemoryObjectReceiveStream[Recorded] = receive
        self.limit = max_buffer
        self.lagged = False

    def offer(self, records: Sequence[Recorded]) -> bool:
        """Buffer ``records``; False (and the tap is closed) when the buffer is full."""
        try:
            for rec in records:
                self._send.send_nowait(rec)
        except anyio.WouldBlock:
            self.lagged = True
            self._send.close()
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def close(self) -> None:
        self._send.close()
        self.receive.close()


class Bus:
    """Publishes committed events, in position order, to every attached tap."""

    def __init__(self) -> None:
        self._taps: set[BusTap] = set()
        self.closed = False

    def attach(self, max_buffer: int = 10_000) -> BusTap:
        tap = BusTap(max_buffer)
        if self.closed:
            tap._send.close()
        else:
            self._taps.add(tap)
        return tap

    def detach(self, tap: BusTap) -> None:
        self._taps.discard(tap)
        tap.close()

    def publish(self, records: Sequence[Recorded]) -> None:
        if not records:
            return
        for tap in list(self._taps):
            if not tap.offer(records):
                self._taps.discard(tap)
                if tap.lagged:  # not silent: it catches up from storage, but it fell behind
                    log.warning("a subscriber fell behind by %d events and was cut off", tap.limit)

    def cut_all(self) -> None:
        """Cut every subscriber off as if it lagged: each catches up from storage again."""
        for tap in list(self._taps):
            tap.lagged = True
            tap._send.close()
        self._taps.clear()

    def close(self) -> None:
        self.closed = True
        for tap in list(self._taps):
            tap._send.close()
        self._taps.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._taps)
