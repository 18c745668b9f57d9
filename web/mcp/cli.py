"""``runner mcp``: the MCP server over stdio for Claude Desktop and Claude Code.

stdout is the JSON-RPC pipe: nothing else may ever be printed there, so logging goes to stderr
and is configured before anything else is imported or constructed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import anyio

from runner.config import Config

log = logging.getLogger("web.mcp")


def register(subparsers: Any) -> None:
    """Add the ``mcp`` subcommand to the ``runner`` command line."""
    p = subparsers.add_parser(
        "mcp",
        help="serve the MCP tools over stdio (Claude Desktop, Claude Code)",
        description="Serve the runner's MCP tools over stdio, on the same database as "
        "`runner serve` (RUNNER_DATA_DIR). Runs are executed by `runner serve`.",
    )
    p.set_defaults(main=mcp_main)


async def serve_stdio(config: Config) -> None:
    from runner.app import Runner
    from web.mcp.server import build_mcp

    async with Runner.open(config) as runner:
        mcp = build_mcp(runner, None)
        await mcp.run_stdio_async()


def mcp_main(args: argparse.Namespace, config: Config) -> int:
    """Entry of ``runner mcp``; returns non-zero when the server could not start."""
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        anyio.run(serve_stdio, config)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        log.error("runner mcp stopped: %s", exc)
        return 1
    return 0
