"""The live run page never misses a state change: what it shows and where its stream resumes
(``data-after``) come from one consistent read, even when the run moves on between the page's
reads. (The dashboard journey saw a page stay "claimed" until the run ended: ``RunStarted`` was
committed after the page read the run's view but before it read the trace, so the page said
"claimed" and its stream resumed after the ``RunStarted`` that would have said "running".)"""

from __future__ import annotations

import re
from typing import Any

import pytest

from events.envelope import Meta
from events.runs import RunClaimed, RunRequested, RunSpec, RunStarted, RunSucceeded
from runner.app import Runner
from tests.web.support import Client
from web.live import run_frames
from web.sse import Hub

pytestmark = pytest.mark.anyio
STATE_RE = re.compile(r'id="run-state"><span class="state st-([a-z_]+)"')
AFTER_RE = re.compile(r'data-after="(\d+)"')


async def _claimed(runner: Runner, run_id: str) -> None:
    spec = RunSpec(prompt="p", model="claude-sonnet-4-5")
    await runner.store.append(
        f"run-{run_id}",
        [
            RunRequested(run_id=run_id, job_id=None, spec=spec, trigger="quick"),
            RunClaimed(run_id=run_id, claimer="c"),
        ],
        meta=Meta(actor="test"),
    )


def _moves_on_before_the_trace_is_read(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, run_id: str, events: list[Any]
) -> None:
    """Commit ``events`` right before the page's first read of the run's stream (the executor
    getting there between the page's read of the run's view and its read of the trace)."""
    read_stream = runner.store.read_stream
    pending = [events]

    async def racing(stream: str, *args: Any, **kw: Any) -> Any:
        if stream == f"run-{run_id}" and pending:
            await runner.store.append(stream, pending.pop(), meta=Meta(actor="executor"))
        return await read_stream(stream, *args, **kw)

    monkeypatch.setattr(runner.store, "read_stream", racing)


async def _shown(client: Client, run_id: str) -> tuple[str, int | None, str]:
    resp = await client.get(f"/runs/{run_id}")
    assert resp.status_code == 200
    html: str = await resp.get_data(as_text=True)
    state = STATE_RE.search(html)
    assert state, "no run state on the page"
    after = AFTER_RE.search(html)
    return state.group(1), int(after.group(1)) if after else None, html


async def test_a_run_that_starts_while_the_page_renders_shows_running(
    client: Client, runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _claimed(runner, "run_race")
    _moves_on_before_the_trace_is_read(
        runner, monkeypatch, "run_race", [RunStarted(run_id="run_race", workspace="/w")]
    )
    state, after, _ = await _shown(client, "run_race")
    started = (await runner.store.read_stream("run-run_race"))[-1]
    assert started.type == "RunStarted" and after is not None
    # Either the page says "running" or its stream resumes before RunStarted (and says it).
    hub = Hub(runner.store, lambda rec: None)
    hub.close()  # no live frames: only what the replay after data-after holds
    replay = b"".join([f async for f in run_frames(hub, runner.store, "run_race", after)])
    assert state == "running" or b'"state":"running"' in replay, (state, after, replay)


async def test_a_run_that_ends_while_the_page_renders_shows_its_end(
    client: Client, runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _claimed(runner, "run_end")
    await runner.store.append(
        "run-run_end", [RunStarted(run_id="run_end", workspace="/w")], meta=Meta(actor="t")
    )
    _moves_on_before_the_trace_is_read(
        runner, monkeypatch, "run_end", [RunSucceeded(run_id="run_end")]
    )
    state, after, html = await _shown(client, "run_end")
    # Shown as it is: finished, with no live stream left open (and no spinner).
    assert state == "succeeded" and after is None
    assert 'id="activity"' not in html
