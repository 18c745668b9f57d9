"""Fixtures for relay tests: the fake Messages API as the upstream, a started relay, an executor
that runs the real CLI through it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors.executor import Executor
from actors.executor_options import ExecutorSettings
from actors.relay import Relay, relay_settings
from events import SQLiteEventStore
from events.runs import RunSpec
from projections.registry import make_projector
from tests.actors.conftest import ctx, events_of
from tests.fakes.anthropic_api import FakeAnthropicAPI, fake_anthropic_api

REAL_KEY = "sk-ant-api03-REALKEY-relay-test-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_api(fake_anthropic_api: FakeAnthropicAPI) -> FakeAnthropicAPI:
    return fake_anthropic_api


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    async with SQLiteEventStore.open(tmp_path / "events.db", projector=make_projector()) as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, fake_api: FakeAnthropicAPI) -> ExecutorSettings:
    return ExecutorSettings(
        data_dir=tmp_path / "data",
        auth_env={"ANTHROPIC_API_KEY": REAL_KEY, "ANTHROPIC_BASE_URL": fake_api.base_url},
        max_api_retries=1,
    )


async def start_relay(
    store: SQLiteEventStore, tg: Any, settings: ExecutorSettings, **overrides: Any
) -> Relay:
    relay = Relay(
        store,
        relay_settings(settings.auth_env, settings.host_claude_config_dir, **overrides),
    )
    await tg.start(relay.run)
    return relay


@pytest.fixture
async def relay(store: SQLiteEventStore, settings: ExecutorSettings) -> AsyncIterator[Relay]:
    async with anyio.create_task_group() as tg:
        r = await start_relay(store, tg, settings)
        yield r
        tg.cancel_scope.cancel()


@pytest.fixture
def executor(store: SQLiteEventStore, settings: ExecutorSettings, relay: Relay) -> Executor:
    return Executor(store, settings, relay=relay)


def run_ctx(run_id: str, prompt: str, **spec: Any) -> Any:
    return ctx(run_id, prompt, **spec)


__all__ = ["REAL_KEY", "RunSpec", "events_of", "fake_anthropic_api", "run_ctx", "start_relay"]
