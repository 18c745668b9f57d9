"""The materializer: server files follow the log; tools are discovered after each change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors.materializer import Materializer
from runner.app import Runner
from runner.servers.materialize import code_path, server_data_dir
from runner.servers.resolver import RunnerResolver, job_scope
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio

CODE = '''
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("greeter")

@mcp.tool()
def hello(name: str) -> str:
    """Say hello."""
    return "hello " + name + os.environ.get("GREETING_SUFFIX", "")

mcp.run("stdio")
'''


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data") as r:
        yield r


async def wait_for(pred: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    with anyio.fail_after(timeout):
        while not await pred():
            await anyio.sleep(0.05)


async def test_files_follow_the_log_and_tools_are_discovered(runner: Runner) -> None:
    data = runner.config.data_dir
    # written while no service ran: no discovery yet, a stray folder on disk
    await runner.servers.create({"name": "greeter", "code": CODE}, discover=False)
    code_path(data, "greeter").unlink()
    (data / "servers" / "orphan").mkdir(parents=True)
    (data / "servers" / "orphan" / "server.py").write_text("print('stale')")

    states: list[bool] = []

    def ready(on: bool) -> None:
        states.append(on)
        runner.servers.auto_discovery = on

    mat = Materializer(
        runner.store, runner.servers.files(), runner.servers.discover, on_ready=ready
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(mat.run)

        async def discovered() -> bool:
            return bool((await runner.queries.server("greeter")).tools)

        await wait_for(discovered)
        assert code_path(data, "greeter").read_text() == CODE
        assert not (data / "servers" / "orphan").exists()
        assert states == [True]

        # a change made through the commands: they wait for the actor's discovery
        new = CODE.replace("def hello", "def hi").replace('"hello "', '"hi "')
        srv = await runner.servers.update("greeter", {"code": new})
        assert [t.name for t in srv.tools] == ["hi"]
        assert code_path(data, "greeter").read_text() == new

        bad = await runner.servers.create(
            {"name": "crashes", "code": "raise RuntimeError('no start')\n"}
        )
        assert bad.start_error and "no start" in bad.start_error

        server_data_dir(data, "greeter").joinpath("keep.txt").write_text("x")
        await runner.servers.delete("greeter")

        async def gone() -> bool:
            return not code_path(data, "greeter").parent.exists()

        await wait_for(gone)
        tg.cancel_scope.cancel()
    assert states == [True, False]
    assert mat.discoveries >= 3


def _env(config: dict[str, Any]) -> dict[str, str]:
    """A server's environment: its stdio config's, or its sandboxed relay's launch."""
    if config.get("type") == "sdk":
        return dict(config["instance"].launch.env)
    return dict(config["env"])


async def test_resolver_scopes_servers_credentials_and_memory(runner: Runner) -> None:
    await runner.servers.seed_builtins()
    await runner.servers.create({"name": "greeter", "code": CODE}, discover=False)
    await runner.servers.create(
        {"name": "other", "code": CODE.replace("GREETING_SUFFIX", "OTHER_TOKEN")},
        discover=False,
    )
    await runner.servers.set_credential("greeter", "GREETING_SUFFIX", "!!")
    await runner.servers.set_credential("other", "OTHER_TOKEN", "other-token-value-123")
    resolver = RunnerResolver(runner.servers)
    with job_scope("job_a", "run_1"):
        got = await resolver.resolve(["greeter", "memory"])
    assert sorted(got.configs) == ["greeter", "memory"]
    env = _env(got.configs["greeter"])
    assert env["GREETING_SUFFIX"] == "!!" and "OTHER_TOKEN" not in env
    assert _env(got.configs["memory"])["DATA_DIR"].endswith("memory/memory/job_a")
    # every sensitive value is redacted; the non-sensitive suffix is not a secret
    assert got.secrets == ["other-token-value-123"]
    await runner.servers.disable("other")
    with pytest.raises(LookupError, match="disabled"):
        await resolver.resolve(["other"])
    with pytest.raises(LookupError, match="not registered"):
        await resolver.resolve(["ghost"])
    with pytest.raises(LookupError, match="SMTP_HOST"):
        await resolver.resolve(["email"])
