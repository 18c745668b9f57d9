"""The SSE hub: one subscription to the log, fanned out to any number of browser clients.

Each client has a bounded buffer. Publishing never waits: a client whose buffer is full is
dropped (its stream ends; the browser's EventSource reconnects with ``Last-Event-ID`` and resumes
from the log), so one slow or stuck browser never delays the others. A frame is encoded once per
event, whatever the number of clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus

from events.backend import Backend
from events.envelope import Recorded

log = logging.getLogger("web.sse")
Frame = tuple[int, bytes]
KEEPALIVE: Frame = (0, b": keep-alive\n\n")
Encoder = Callable[[Recorded], bytes | None]
ALL = "*"


class Client:
    """One browser's stream: frames of one log stream (or every stream with ``ALL``).

    A bounded deque and one waiter future: the cheapest wake-up asyncio offers (one callback),
    which matters when one event is copied to hundreds of clients.
    """

    def __init__(self, hub: Hub, topic: str, buffer: int) -> None:
        self.hub = hub
        self.topic = topic
        self.limit = buffer
        self.dropped = False
        self.closed = False
        self._buf: deque[Frame] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, frame: Frame) -> bool:
        """Queue a frame without waiting; False when the buffer is full."""
        if self.closed:
            return True
        if len(self._buf) >= self.limit:
            return False
        self._buf.append(frame)
        self._wake()
        return True

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def get_nowait(self) -> Frame:
        """The next frame; ``anyio.WouldBlock`` if none yet, ``anyio.EndOfStream`` once closed."""
        if self._buf:
            return self._buf.popleft()
        if self.closed:
            raise anyio.EndOfStream
        raise anyio.WouldBlock

    async def next_batch(self) -> list[Frame]:
        """Every frame buffered (waiting for at least one); empty once the stream is closed."""
        while not self._buf:
            if self.closed:
                return []
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        out = list(self._buf)
        self._buf.clear()
        return out

    def close(self) -> None:
        self.hub.remove(self)

    def _shut(self, *, discard: bool) -> None:
        self.closed = True
        if discard:
            self._buf.clear()  # dropped: the browser resumes from its last delivered id
        self._wake()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Hub:
    """Fan-out of committed events to SSE clients, keyed by stream name."""

    def __init__(
        self,
        store: Backend,
        encode: Encoder,
        *,
        buffer: int = 512,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self.store = store
        self.keepalive_seconds = keepalive_seconds
        self.encode = encode
        self.buffer = buffer
        self.position = 0
        self.dropped = 0
        self._topics: dict[str, set[Client]] = {}
        self._closed = False

    @property
    def clients(self) -> int:
        return sum(len(c) for c in self._topics.values())

    def open(self, topic: str) -> Client:
        """Register a client before replaying history, so nothing committed meanwhile is lost."""
        client = Client(self, topic, self.buffer)
        if self._closed:
            client._shut(discard=False)
        else:
            self._topics.setdefault(topic, set()).add(client)
        return client

    def remove(self, client: Client, *, discard: bool = False) -> None:
        group = self._topics.get(client.topic)
        if group is not None:
            group.discard(client)
            if not group:
                del self._topics[client.topic]
        client._shut(discard=discard)

    def publish(self, rec: Recorded) -> None:
        self.position = rec.position
        targets = self._topics.get(rec.stream)
        every = self._topics.get(ALL)
        if not targets and not every:
            return
        try:
            data = self.encode(rec)
        except Exception:  # one odd event must not stop every live view
            log.exception("cannot encode event %s at %d for SSE", rec.type, rec.position)
            return
        if data is None:
            return
        frame = (rec.position, data)
        for group in (targets, every):
            if group:
                self._send(list(group), frame)

    def _send(self, clients: list[Client], frame: Frame) -> None:
        for client in clients:
            if not client.offer(frame):
                client.dropped = True
                self.dropped += 1
                self.remove(client, discard=True)
                log.warning(
                    "SSE client of %s dropped: %d frames unread (it resumes from the log)",
                    client.topic,
                    client.limit,
                )

    def keepalive(self) -> None:
        """A comment frame to every client: proxies keep the stream open, dead peers show."""
        self._send([c for group in self._topics.values() for c in group], KEEPALIVE)

    def reopen(self) -> None:
        """Accept clients again after ``close`` (a restart of ``run``)."""
        self._closed = False

    def close(self) -> None:
        """End every stream (shutdown): browsers reconnect to the next server."""
        self._closed = True
        for group in list(self._topics.values()):
            for client in list(group):
                self.remove(client)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the log from its head for as long as the server runs."""
        self.position = await self.store.head()
        sub = self.store.subscribe(from_position=self.position)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keepalive_loop)
                task_status.started()
                async for rec in sub:
                    self.publish(rec)
                tg.cancel_scope.cancel()
        finally:
            await sub.aclose()
            self.close()

    async def _keepalive_loop(self) -> None:
        while True:
            await anyio.sleep(self.keepalive_seconds)
            self.keepalive()
