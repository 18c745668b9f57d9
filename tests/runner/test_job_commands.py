"""Job commands: validation with messages that say what to fix, and nothing written on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.errors import CommandError, Conflict, InvalidInput, NotFound
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio

GOOD: dict[str, Any] = {"name": "news", "prompt": "Summarize AI news", "cron": "0 7 * * 1-5"}

BAD_INPUTS = [
    ({**GOOD, "cron": "61 * * * *"}, "cron", "out of range"),
    ({**GOOD, "cron": "* * *"}, "cron", "expected 5 fields"),
    ({**GOOD, "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ({**GOOD, "prompt": "   "}, "prompt", "must not be empty"),
    ({**GOOD, "name": "x" * 201}, "name", "limit is 200"),
    ({**GOOD, "prompt": "p" * 100_001}, "prompt", "limit is 100000"),
    ({**GOOD, "timeout_seconds": -5}, "timeout_seconds", "> 0"),
    ({**GOOD, "max_turns": 0}, "max_turns", "between 1 and 1000"),
    ({**GOOD, "budget_usd": 0}, "budget_usd", "positive"),
    ({**GOOD, "overlap": "sometimes"}, "overlap", "one of"),
    ({**GOOD, "tools": ["Teleport"]}, "tools", "valid built-in tools"),
    ({**GOOD, "mcp_servers": ["nope"]}, "mcp_servers", "unknown MCP server"),
    ({**GOOD, "tools": ["mcp__ghost__send"]}, "tools", "unknown MCP server"),
    ({**GOOD, "frobnicate": True}, None, "unknown job fields"),
]


@pytest.mark.parametrize(("data", "field", "message"), BAD_INPUTS)
async def test_bad_input_is_refused_and_nothing_is_written(
    tmp_path: Path, data: dict[str, Any], field: str | None, message: str
) -> None:
    async with open_runner(tmp_path) as runner:
        before = await runner.store.head()
        with pytest.raises(InvalidInput) as exc:
            await runner.jobs.create(data)
        assert exc.value.field == field
        assert message in exc.value.message
        assert await runner.store.head() == before


async def test_invalid_cron_message_shows_a_valid_example(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        with pytest.raises(InvalidInput) as exc:
            await runner.jobs.create({**GOOD, "cron": "every morning"})
        assert '"0 7 * * 1-5"' in exc.value.message


async def test_create_update_pause_resume_delete(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, warnings = await runner.jobs.create({**GOOD, "tools": ["Read", "Grep"]})
        assert warnings == []
        assert job.spec.cron == "0 7 * * 1-5" and job.enabled and job.version == 0
        job, _ = await runner.jobs.update(job.job_id, {"timezone": "Europe/Brussels"})
        assert job.spec.timezone == "Europe/Brussels" and job.version == 1
        events = await runner.store.read_stream(f"job-{job.job_id}")
        assert events[-1].event.changed == ("timezone",)  # type: ignore[union-attr]
        assert not (await runner.jobs.pause(job.job_id)).enabled
        assert (await runner.jobs.resume(job.job_id)).enabled
        await runner.jobs.delete(job.job_id)
        with pytest.raises(NotFound):
            await runner.queries.job(job.job_id)


async def test_stale_expected_version_is_a_conflict(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create(GOOD)
        await runner.jobs.update(job.job_id, {"prompt": "new"})
        head = await runner.store.head()
        with pytest.raises(Conflict) as exc:
            await runner.jobs.update(job.job_id, {"prompt": "newer"}, expected_version=0)
        assert "reload" in exc.value.message
        assert await runner.store.head() == head


async def test_unknown_job_id_says_what_kind_of_id(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        for call in (
            runner.jobs.update("job_nope", {"prompt": "x"}),
            runner.jobs.pause("job_nope"),
            runner.jobs.delete("job_nope"),
            runner.runs.request_job("job_nope"),
        ):
            with pytest.raises(NotFound) as exc:
                await call
            assert "job id" in exc.value.message


async def test_duplicate_name_is_a_conflict(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.jobs.create(GOOD)
        with pytest.raises(Conflict):
            await runner.jobs.create(GOOD)


async def test_tool_names_are_normalised_with_warnings(tmp_path: Path) -> None:
    from events.servers import ServerCreated

    async with open_runner(tmp_path) as runner:
        await runner.store.append(
            "server-mail", [ServerCreated(name="mail", kind="builtin")], expected="no_stream"
        )
        job, warnings = await runner.jobs.create({**GOOD, "tools": ["mail:send", "Read"]})
        assert job.spec.tools == ("mcp__mail__send", "Read")
        assert job.spec.mcp_servers == ("mail",)
        assert any("normalized" in w for w in warnings)


async def test_manual_run_and_cancel_of_a_queued_run(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        job, _ = await runner.jobs.create({**GOOD, "cron": None})
        run = await runner.runs.request_job(job.job_id)
        assert run.state == "requested" and run.spec.model == "claude-sonnet-4-5"
        cancelled = await runner.runs.cancel(run.run_id)
        assert cancelled.state == "cancelled"
        with pytest.raises(Conflict):
            await runner.runs.cancel(run.run_id)


async def test_settings_validation(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        s = await runner.settings.change({"max_concurrent_runs": 5})
        assert s.max_concurrent_runs == 5
        for bad in (
            {"max_concurrent_runs": 0},
            {"warp": 9},
            {"allowed_builtin_tools": ["Zap"]},
            {},
        ):
            with pytest.raises(CommandError):
                await runner.settings.change(bad)
        assert (await runner.queries.settings()).max_concurrent_runs == 5


async def test_a_tool_the_server_does_not_offer_is_refused_with_its_tools(tmp_path: Path) -> None:
    from events.servers import ServerCreated, ServerToolsDiscovered, ToolInfo

    async with open_runner(tmp_path) as runner:
        await runner.store.append(
            "server-mail",
            [
                ServerCreated(name="mail", kind="builtin"),
                ServerToolsDiscovered(name="mail", tools=(ToolInfo(name="send_email"),)),
            ],
            expected="no_stream",
        )
        with pytest.raises(InvalidInput) as exc:
            await runner.jobs.create({**GOOD, "tools": ["mcp__mail__fax"]})
        assert "mcp__mail__send_email" in exc.value.message and exc.value.field == "tools"
        job, _ = await runner.jobs.create({**GOOD, "tools": ["mcp__mail__send_email"]})
        assert job.spec.mcp_servers == ("mail",)
