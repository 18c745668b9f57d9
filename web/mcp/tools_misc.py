"""Service tools: health."""

from __future__ import annotations

from typing import Any

from runner.app import Runner
from web.mcp.server import READ, RunnerMCP


def register(mcp: RunnerMCP, runner: Runner, service: Any | None) -> None:
    @mcp.tool(annotations=READ)
    async def get_health() -> dict[str, Any]:
        """Health of the runner: actors alive, queue depth, Claude Code CLI found, auth mode,
        sandbox, database size, active runs, today's spend, and the public URL every link
        uses."""
        active = await runner.queries.active_runs()
        today = await runner.queries.today()
        spend = await runner.queries.totals(since_day=today)
        out: dict[str, Any] = {
            "log_position": await runner.store.head(),
            "active_runs": {
                state: sum(1 for r in active if r.state == state)
                for state in ("requested", "claimed", "running")
            },
            "today": {"day": today, "runs": spend["runs"], "cost_usd": spend["cost_usd"]},
            "public_url": runner.config.public_origin,
            "public_url_source": (
                "RUNNER_PUBLIC_URL / config file"
                if runner.config.public_url
                else "default from RUNNER_PORT; set RUNNER_PUBLIC_URL to the address clients "
                "and webhook providers reach"
            ),
            "spend_today": await runner.queries.spend_today(),  # the relay's count vs budgets
        }
        if service is not None:
            out["mode"] = "service"
            out.update(service.status())
        else:
            out["mode"] = "stdio"
            out["note"] = (
                "this MCP process shares the database with `runner serve`, which executes runs; "
                "runs stay 'requested' while no service is running"
            )
            out["database"] = runner.database_status()
        return out
