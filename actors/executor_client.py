"""The executor's seams: the agent client (real SDK or a no-op) and the MCP server resolver."""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any, Protocol

import anyio
import msgspec
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ResultMessage,
    SystemMessage,
    TextBlock,
)
from claude_agent_sdk.types import Message

from actors.sandbox.mounts import Mount

log = logging.getLogger(__name__)


class AgentClient(Protocol):
    """The part of ``ClaudeSDKClient`` the executor uses."""

    async def connect(self) -> None: ...

    async def query(self, prompt: str) -> None: ...

    def receive_response(self) -> AsyncIterator[Message]: ...

    async def interrupt(self) -> None: ...

    async def disconnect(self) -> None: ...


ClientFactory = Callable[[ClaudeAgentOptions], AgentClient]


def sdk_client_factory(options: ClaudeAgentOptions) -> AgentClient:
    """The real thing: ``ClaudeSDKClient`` driving the Claude Code CLI."""
    return ClaudeSDKClient(options=options)


def cli_pid(client: object) -> int | None:
    """The CLI's process id, if ``client`` is a connected ``ClaudeSDKClient`` (0.2.184)."""
    transport = getattr(client, "_transport", None)
    process = getattr(transport, "_process", None)
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) else None


class NoopClient:
    """Answers every prompt at once with ``reply``, no CLI and no API (for benchmarks)."""

    def __init__(self, options: ClaudeAgentOptions, reply: str = "ok") -> None:
        self.options = options
        self.reply = reply
        self._prompt: str | None = None

    async def connect(self) -> None:
        return None

    async def query(self, prompt: str) -> None:
        self._prompt = prompt

    async def receive_response(self) -> AsyncIterator[Message]:
        sid = str(uuid.uuid4())
        model = self.options.model or "noop"
        t0 = time.monotonic()
        yield SystemMessage(subtype="init", data={"model": model, "session_id": sid})
        yield AssistantMessage(
            content=[TextBlock(text=self.reply)], model=model, message_id=f"msg_{sid}"
        )
        yield ResultMessage(
            subtype="success",
            duration_ms=int((time.monotonic() - t0) * 1000),
            duration_api_ms=0,
            is_error=False,
            num_turns=1,
            session_id=sid,
            total_cost_usd=0.0,
            usage={"input_tokens": 0, "output_tokens": 0},
            result=self.reply,
        )

    async def interrupt(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None


def noop_client_factory(options: ClaudeAgentOptions) -> AgentClient:
    return NoopClient(options)


class ResolvedServers(msgspec.Struct, frozen=True, kw_only=True):
    """MCP servers of a run in the SDK's ``McpServerConfig`` shape, plus values to redact."""

    configs: dict[str, Any] = {}
    secrets: list[str] = []
    mounts: list[Mount] = []
    """What the stdio servers need to see inside the run's sandbox (code ro, state rw)."""


class ServerResolver(Protocol):
    """Turns a job's server names into configs; unknown names raise ``LookupError`` or are
    simply left out (the executor fails the run with a readable reason either way)."""

    async def resolve(self, names: Sequence[str]) -> ResolvedServers: ...


class NullResolver:
    """Resolves nothing: a job naming any server fails with "unknown tool server"."""

    async def resolve(self, names: Sequence[str]) -> ResolvedServers:
        return ResolvedServers()


class StaticResolver:
    """A fixed name → config table (tests, and a simple wiring for built-in servers)."""

    def __init__(
        self, configs: Mapping[str, Any], secrets: Sequence[str] = (), mounts: Sequence[Mount] = ()
    ) -> None:
        self.configs = dict(configs)
        self.secrets = list(secrets)
        self.mounts = list(mounts)

    async def resolve(self, names: Sequence[str]) -> ResolvedServers:
        found = {n: self.configs[n] for n in names if n in self.configs}
        return ResolvedServers(configs=found, secrets=self.secrets, mounts=self.mounts)


async def reap_after(pid: int, delay: float) -> None:
    """SIGKILL ``pid`` after ``delay`` seconds unless cancelled first (a CLI that will not stop)."""
    await anyio.sleep(delay)
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
        log.warning("Claude Code process %s did not stop in %.1fs; killed", pid, delay)
