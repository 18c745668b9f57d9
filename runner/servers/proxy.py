"""A run's stdio tool server in a sandbox of its own, handed to Claude Code as an SDK server.

Claude Code would start a stdio server inside the run's sandbox, where Bash and the run's other
servers share its uid and could read its credentials from ``/proc/<pid>/environ``. Instead the
runner starts each (confined) server itself, one sandbox per server, and gives the CLI an
in-process SDK server whose ``run`` only relays JSON-RPC messages between claude-agent-sdk's
bridge and the server's stdin/stdout. The SDK starts the relay (on the event loop, so the
sandbox dies with the service) at the CLI's first message and stops it when the run ends.
"""

from __future__ import annotations

from typing import Any, TextIO, cast

import anyio
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client

from runner.servers.launch import StdioLaunch
from runner.servers.session import new_errlog

__all__ = ["SandboxedServer", "sdk_config"]


class SandboxedServer:
    """Stands in for ``mcp.server.Server`` in claude-agent-sdk's in-process bridge."""

    def __init__(self, name: str, launch: StdioLaunch) -> None:
        self.name = name
        self.launch = launch

    def __repr__(self) -> str:  # the launch holds credentials: never in a repr
        return f"SandboxedServer({self.name!r})"

    def create_initialization_options(self) -> None:
        return None

    async def run(
        self, read_stream: Any, write_stream: Any, _options: Any, raise_exceptions: bool = False
    ) -> None:
        """Relay messages both ways until either side ends."""
        params = StdioServerParameters(
            command=self.launch.command,
            args=list(self.launch.args),
            env=dict(self.launch.env),
            cwd=self.launch.cwd,
            encoding_error_handler="replace",
        )
        with new_errlog() as errlog:
            async with (
                stdio_client(params, errlog=cast(TextIO, errlog)) as (from_server, to_server),
                anyio.create_task_group() as tg,
            ):

                async def to_process() -> None:
                    async for message in read_stream:
                        if not isinstance(message, Exception):
                            await to_server.send(message)
                    tg.cancel_scope.cancel()

                tg.start_soon(to_process)
                async for message in from_server:
                    if not isinstance(message, Exception):
                        await write_stream.send(message)
                tg.cancel_scope.cancel()


def sdk_config(name: str, launch: StdioLaunch) -> dict[str, Any]:
    """The ``McpSdkServerConfig`` that makes Claude Code reach ``launch`` through the relay."""
    return {"type": "sdk", "name": name, "instance": SandboxedServer(name, launch)}
