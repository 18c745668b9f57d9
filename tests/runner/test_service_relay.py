"""The service runs every run through its relay: spend per run comes from the relay, next to
the CLI's estimate; health shows the relay; Bedrock is shown as not relayed."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from runner.service import Service
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn
from tests.helpers import open_runner

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
KEY = "sk-ant-api03-service-relay-KEY-000111222"


async def test_a_service_run_is_relayed_and_reconciled(tmp_path: Path) -> None:
    with FakeAnthropicAPI() as api:
        marker = api.script(
            "svc",
            [
                Turn([ToolUse("Read", {"file_path": "x"})], input_tokens=200, output_tokens=30),
                Turn([Text("done")], input_tokens=250, output_tokens=5, cache_read_input_tokens=90),
            ],
        )
        auth = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}
        async with open_runner(tmp_path, auth_env=auth, max_api_retries=1) as runner:
            service = Service(runner)
            async with anyio.create_task_group() as tg:
                await tg.start(service.run)
                run, _ = await runner.runs.quick(f"go {marker}", tools=["Read"], budget_usd=5.0)
                with anyio.fail_after(90):
                    while True:
                        view = await runner.queries.run(run.run_id)
                        spend = await runner.queries.run_spend(run.run_id)
                        if view.state not in ("requested", "claimed", "running") and (
                            spend["calls"] == 2 and spend["cli_cost_usd"] is not None
                        ):
                            break
                        await anyio.sleep(0.1)
                assert view.state == "succeeded", view
                assert spend["metered"] and spend["cost_known"]
                expected = (200 * 3 + 30 * 15 + 250 * 3 + 5 * 15 + 90 * 0.3) / 1e6
                assert spend["cost_usd"] == pytest.approx(expected, abs=1e-9)
                assert spend["cli_cost_usd"] == pytest.approx(expected, abs=1e-9)
                assert spend["difference_usd"] is None  # they agree
                assert spend["budget_usd"] == 5.0
                assert spend["budget_left_usd"] == pytest.approx(5.0 - expected, abs=1e-6)
                health = service.status()["relay"]
                assert health["mode"] == "relayed" and health["credential"] == "api_key"
                assert health["counters"]["calls"] == 2 and health["exposed_to_runs"] == []
                assert KEY not in repr(health)
                assert service.relay.settings.scrub_environ  # /proc/<pid>/environ blanked
                today = await runner.queries.spend_today()
                assert today["metered_cost_usd"] == pytest.approx(expected, abs=1e-9)
                rows = await runner.queries.costs(
                    start=__import__("datetime").date.fromisoformat(today["day"]),
                    end=__import__("datetime").date.fromisoformat(today["day"]),
                )
                assert rows and rows[0]["runs"] == 1
                tg.cancel_scope.cancel()
        assert [r.headers["x-api-key"] for r in api.requests_for("svc")] == [KEY, KEY]


async def test_bedrock_is_shown_as_not_relayed(tmp_path: Path) -> None:
    auth = {
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "bedrock-secret-value",
    }
    async with open_runner(tmp_path, auth_env=auth) as runner:
        service = Service(runner)
        relay = service.status()["relay"]
        assert relay["mode"] == "bypassed"
        assert relay["exposed_to_runs"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        assert "Bedrock is not relayed" in relay["note"]
        assert "bedrock-secret-value" not in repr(relay)
        assert service.relay.open("r", None, None, 10) is None  # runs use the cloud env
