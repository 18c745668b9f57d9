"""The SSE hub: one subscription to the log, fanned out to any number of browser clients.

Each client has a bounded buffer. Publishing never waits: a client whose buffer is full is
dropped (its stream ends; the browser's EventSource reconnects with ``Last-Event-ID`` and resumes
from the log), so one slow or stuck browser never delays the others. A frame is encoded once per
event, whatever the number of clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from events.envelope import Recorded
from events.sqlite_store import SQLiteEventStore

log = logging.getLogger("web.sse")
Frame = tuple[int, bytes]
Encoder = Callable[[Recorded], bytes | None]
ALL = "*"


class Client:
    """One browser's stream: frames of one log stream (or every stream with ``ALL``)."""

    def __init__(self, hub: Hub, topic: str, buffer: int) -> None:
        send, receive = anyio.create_memory_object_stream[Frame](buffer)
        self.hub = hub
        self.topic = topic
        self.send: MemoryObjectSendStream[Frame] = send
        self.receive: MemoryObjectReceiveStream[Frame] = receive
        self.dropped = False

    def close(self) -> None:
        self.hub.remove(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Hub:
    """Fan-out of committed events to SSE clients, keyed by stream name."""

    def __init__(self, store: SQLiteEventStore, encode: Encoder, *, buffer: int = 512) -> None:
        self.store = store
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
            client.send.close()
        else:
            self._topics.setdefault(topic, set()).add(client)
        return client

    def remove(self, client: Client) -> None:
        group = self._topics.get(client.topic)
        if group is not None:
            group.discard(client)
            if not group:
                del self._topics[client.topic]
        client.send.close()

    def publish(self, rec: Recorded) -> None:
        self.position = rec.position
        targets = self._topics.get(rec.stream)
        every = self._topics.get(ALL)
        if not targets and not every:
            return
        data = self.encode(rec)
        if data is None:
            return
        frame = (rec.position, data)
        for group in (targets, every):
            for client in list(group or ()):
                try:
                    client.send.send_nowait(frame)
                except anyio.WouldBlock:
                    client.dropped = True
                    self.dropped += 1
                    self.remove(client)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    self.remove(client)

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
        task_status.started()
        try:
            async for rec in sub:
                self.publish(rec)
        finally:
            await sub.aclose()
            self.close()
