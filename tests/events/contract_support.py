"""Helpers of the ``EventStore`` contract: event makers, readers, the reference model."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import anyio
import anyio.lowlevel
from hypothesis import strategies as st

from events import (
    ANY,
    EXISTS,
    NO_STREAM,
    AppendResult,
    EventStore,
    ExpectedVersion,
    Recorded,
    Subscription,
)
from events.system import ServiceStopped


class OpenStore(Protocol):
    def __call__(
        self, name: str = "main"
    ) -> contextlib.AbstractAsyncContextManager[EventStore]: ...


def ev(tag: str, instance: str = "test") -> ServiceStopped:
    """A small event whose ``reason`` carries ``tag`` so tests can tell events apart."""
    return ServiceStopped(instance=instance, reason=tag)


def tags(records: Sequence[Recorded]) -> list[str]:
    out = []
    for r in records:
        assert isinstance(r.event, ServiceStopped)
        out.append(r.event.reason)
    return out


async def read_all(store: EventStore, **kw: Any) -> list[Recorded]:
    return [r async for r in store.read_all(**kw)]


async def collect(sub: Subscription, until: int, limit_s: float = 30.0) -> list[Recorded]:
    """Records from ``sub`` until one reaches position ``until`` (fails after ``limit_s``)."""
    seen: list[Recorded] = []
    with anyio.fail_after(limit_s):
        async for rec in sub:
            seen.append(rec)
            if rec.position >= until:
                break
    return seen


def assert_log_well_formed(log: Sequence[Recorded]) -> None:
    """Positions 1..N without gaps; every stream's versions 0..n-1 in position order."""
    assert [r.position for r in log] == list(range(1, len(log) + 1))
    versions: dict[str, int] = {}
    for r in log:
        assert r.version == versions.get(r.stream, -1) + 1, (r.stream, r.version)
        versions[r.stream] = r.version


class Model:
    """The in-memory reference: a list of (stream, tag) with optimistic concurrency."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.versions: dict[str, int] = {}

    def allows(self, stream: str, expected: ExpectedVersion) -> bool:
        current = self.versions.get(stream, -1)
        if expected == ANY:
            return True
        if expected == NO_STREAM:
            return current == -1
        if expected == EXISTS:
            return current >= 0
        return expected == current

    def append(self, stream: str, items: Sequence[str]) -> None:
        self.log.extend((stream, t) for t in items)
        self.versions[stream] = self.versions.get(stream, -1) + len(items)


expected_versions = st.one_of(
    st.sampled_from([ANY, NO_STREAM, EXISTS]), st.integers(min_value=-1, max_value=4)
)
append_ops = st.lists(
    st.tuples(st.integers(0, 3), expected_versions, st.integers(1, 3)), min_size=1, max_size=25
)


def appended(result: object) -> bool:
    return isinstance(result, AppendResult)


async def drain(sub: Subscription) -> AsyncIterator[Recorded]:
    async for rec in sub:
        yield rec
