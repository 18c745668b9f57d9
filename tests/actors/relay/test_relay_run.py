"""A real CLI run through the relay: the model sees the real key, the run only its token."""

from __future__ import annotations

import pytest

from actors.executor import Executor
from actors.relay import Relay
from events import SQLiteEventStore
from events.relay import ModelCallMetered
from events.runs import RunStarted, RunSucceeded
from tests.actors.relay.conftest import REAL_KEY, events_of, run_ctx
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_run_through_relay_is_metered(
    store: SQLiteEventStore, executor: Executor, relay: Relay, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script(
        "two",
        [
            Turn(
                [ToolUse("Read", {"file_path": "nothing.txt"})],
                input_tokens=240,
                output_tokens=14,
                cache_creation_input_tokens=20,
                cache_read_input_tokens=60,
            ),
            Turn([Text("done")], input_tokens=300, output_tokens=6),
        ],
    )
    await executor.execute(run_ctx("r1", f"go {marker}", tools=("Read",)))
    evs = await events_of(store, "r1")
    assert isinstance(evs[0], RunStarted)
    term = evs[-1]
    assert isinstance(term, RunSucceeded), term
    reqs = fake_api.requests_for("two")
    assert len(reqs) == 2
    assert all(r.headers.get("x-api-key") == REAL_KEY for r in reqs)
    metered = [e for e in evs if isinstance(e, ModelCallMetered)]
    assert len(metered) == 2
    assert [m.output_tokens for m in metered] == [14, 6]
    assert metered[0].cache_read_input_tokens == 60 and metered[0].cache_creation_input_tokens == 20
    total = sum(m.cost_usd or 0 for m in metered)
    assert total == pytest.approx(term.result.cost_usd, abs=1e-9)
    assert not any(m.partial for m in metered)
