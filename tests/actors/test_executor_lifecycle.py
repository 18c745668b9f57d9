"""Cancel, timeout and CLI failures: exactly one terminal event, and no CLI process left behind."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import anyio
import msgspec
import pytest

from actors.executor import Executor
from actors.executor_options import ExecutorSettings
from events import SQLiteEventStore
from events.runs import RunCancelled, RunFailed, RunStarted, RunTimedOut
from tests.actors.conftest import alive, children, ctx, events_of
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, Turn

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SLOW = Turn([Text("word " * 400, chunk=5)], delay=0.05)  # ~20 s of streaming


async def _wait_for(predicate: Callable[[], object], limit: float = 20.0) -> None:
    with anyio.fail_after(limit):
        while True:
            if predicate():
                return
            await anyio.sleep(0.02)


async def _gone_within(pid: int, seconds: float) -> bool:
    with anyio.move_on_after(seconds):
        while True:
            if not alive(pid):
                break
            await anyio.sleep(0.02)
    return not alive(pid)


async def test_cancel_mid_stream_kills_the_cli(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("slow", [SLOW])
    ex = Executor(store, settings)
    ex.note_cancel("rc", "cancelled by test")
    async with anyio.create_task_group() as tg:
        tg.start_soon(ex.execute, ctx("rc", f"talk {marker}"))
        await _wait_for(lambda: fake_api.requests_for("slow") and "rc" in ex.active_pids)
        await anyio.sleep(0.3)
        pid = ex.active_pids["rc"]
        tg.cancel_scope.cancel()
    assert await _gone_within(pid, 2.0)
    assert pid not in children()
    evs = await events_of(store, "rc")
    assert isinstance(evs[0], RunStarted)
    assert isinstance(evs[-1], RunCancelled) and evs[-1].reason == "cancelled by test"
    assert sum(isinstance(e, RunCancelled) for e in evs) == 1
    assert not (settings.data_dir / "runs" / "rc").exists()


async def test_timeout(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("slow2", [SLOW])
    ex = Executor(store, settings)
    pids: list[int] = []

    async def watch() -> None:
        await _wait_for(lambda: "rt" in ex.active_pids)
        pids.append(ex.active_pids["rt"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await ex.execute(ctx("rt", f"talk {marker}", timeout_seconds=1.5))
    evs = await events_of(store, "rt")
    assert isinstance(evs[-1], RunTimedOut) and evs[-1].timeout_seconds == 1.5
    assert pids and await _gone_within(pids[0], 2.0)


async def test_missing_cli_fails_fast(store: SQLiteEventStore, settings: ExecutorSettings) -> None:
    bad = msgspec.structs.replace(settings, cli_path=Path("/nonexistent/claude"))
    await Executor(store, bad).execute(ctx("rn", "hi"))
    term = (await events_of(store, "rn"))[-1]
    assert isinstance(term, RunFailed) and term.reason == "cli_not_found"
    assert not term.retryable


async def test_cli_crash_is_retryable_and_shows_stderr(
    store: SQLiteEventStore, settings: ExecutorSettings, tmp_path: Path
) -> None:
    cli = tmp_path / "crashing-claude"
    cli.write_text("#!/bin/sh\necho 'boom: segfault in test-key-run' >&2\nexit 3\n")
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    crash = msgspec.structs.replace(settings, cli_path=cli)
    await Executor(store, crash).execute(ctx("rx", "hi"))
    term = (await events_of(store, "rx"))[-1]
    assert isinstance(term, RunFailed), term
    assert term.reason == "cli_crashed" and term.retryable
    assert "boom" in term.message and "test-key-run" not in term.message


async def test_unknown_server_fails_with_reason(
    store: SQLiteEventStore, settings: ExecutorSettings
) -> None:
    await Executor(store, settings).execute(ctx("ru", "hi", mcp_servers=("ghost",)))
    term = (await events_of(store, "ru"))[-1]
    assert isinstance(term, RunFailed) and term.reason == "invalid_request"
    assert "ghost" in term.message and not term.retryable
