"""``runner serve`` killed -9 in the middle of an assistant turn: after the restart the turn is
ended as crashed, and the next message resumes the last recorded CLI session (the model sees
the first turn again)."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import anyio
import pytest

from projections import RunView
from runner.app import Runner
from runner.config import load_config
from tests.e2e.test_service_processes import cli_processes_under, env_for, serve, wait
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
T = TypeVar("T")


@pytest.fixture
def api() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI(default=(Text("done"),)) as fake:
        yield fake


def in_runner(env: dict[str, str], fn: Callable[[Runner], Awaitable[T]]) -> T:
    """Run ``fn(runner)`` in this process on the service's log (another process's writer)."""

    async def main() -> T:
        async with Runner.open(load_config(env=env)) as runner:
            return await fn(runner)

    return anyio.run(main)


def turns(env: dict[str, str], cid: str) -> list[tuple[str, str, str | None]]:
    async def read(runner: Runner) -> list[tuple[str, str, str | None]]:
        conv = await runner.assistant.get(cid)
        return [(t.run_id, t.state, t.session_id) for t in conv.turns]

    return in_runner(env, read)


def post(env: dict[str, str], cid: str, text: str) -> RunView:
    async def go(runner: Runner) -> RunView:
        return await runner.assistant.post(cid, text, user="admin")

    return in_runner(env, go)


def test_a_turn_killed_mid_answer_ends_crashed_and_the_next_resumes(
    tmp_path: Path, api: FakeAnthropicAPI
) -> None:
    env = env_for(tmp_path, api)
    marker = api.script(
        "asst-restart",
        [
            Text("Noted: the code word is PAPAYA."),
            Turn([Text("thinking about it " * 20, chunk=10)], delay=1.0),  # killed in here
            Text("Still here: the code word was PAPAYA."),
        ],
    )
    first = serve(env, tmp_path / "first.log")
    try:

        async def start(runner: Runner) -> str:
            conv, _ = await runner.assistant.start(f"remember PAPAYA {marker}", user="admin")
            return conv.conversation_id

        cid = in_runner(env, start)
        wait(lambda: turns(env, cid)[0][1] == "succeeded", 90, "the first turn")
        session = turns(env, cid)[0][2]
        assert session

        second_run = post(env, cid, "tell me a long story").run_id
        wait(
            lambda: any(
                "tell me a long story" in " ".join(r.user_texts)
                for r in api.requests_for("asst-restart")
            ),
            60,
            "the second turn to reach the model",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    wait(lambda: not cli_processes_under(tmp_path), 15, "the orphaned CLI to exit")
    assert turns(env, cid)[1][1] == "running"
    second = serve(env, tmp_path / "second.log")
    try:
        wait(lambda: turns(env, cid)[1][1] == "crashed", 60, "the killed turn to end crashed")
        assert turns(env, cid)[1][0] == second_run

        third = post(env, cid, "what was the code word?")
        assert third.spec.assistant is not None and third.spec.assistant.resume == session
        wait(
            lambda: len(turns(env, cid)) == 3 and turns(env, cid)[2][1] == "succeeded",
            90,
            "the third turn",
        )
        last = [
            r
            for r in api.requests_for("asst-restart")
            if "what was the code word" in " ".join(r.user_texts)
        ]
        assert last and "remember PAPAYA" in " ".join(last[-1].user_texts)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    assert cli_processes_under(tmp_path) == []
