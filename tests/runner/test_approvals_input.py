"""The "ask first" settings are validated at every door: job, quick run, webhook, policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.approvals import policy_reason
from events.runs import RunSpec
from runner.commands.webhooks import for_runner
from runner.errors import InvalidInput
from runner.jobs_input import build_spec
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio
BASE = {"name": "n", "prompt": "p", "mcp_servers": ["email"]}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (["rm -rf /"], "is not a tool"),
        (["mcp__other__send"], "'other', which this job does not use"),
        (["mcp__email__"], "is not a tool"),
        (["mcp__*"], "is not a tool"),
        ([1], "list of tool names"),
        ([f"Bash{i}" for i in range(60)], "limit is 50"),
    ],
)
def test_bad_entries_name_the_field(value: object, says: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        build_spec({**BASE, "ask_first": value})
    assert exc.value.field == "ask_first" and says in exc.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approval_timeout_seconds", -1),
        ("approval_timeout_seconds", "nan"),
        ("approval_timeout_seconds", 10**9),
        ("approval_on_timeout", "explode"),
        ("ask_first_writes", 3),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        build_spec({**BASE, field: value})
    assert exc.value.field == field


def test_good_entries_are_normalised() -> None:
    spec = build_spec(
        {**BASE, "tools": ["mcp__memory__get"], "ask_first": "Bash, email:send, mcp__memory__*"}
    )
    assert spec.ask_first == ("Bash", "mcp__email__send", "mcp__memory__*")


def test_policy() -> None:
    spec = RunSpec(prompt="p", ask_first=("mcp__email__*", "Bash"))
    assert policy_reason(spec, "mcp__email__send") == "ask first: mcp__email__*"
    assert policy_reason(spec, "mcp__emailer__send") is None
    assert policy_reason(spec, "Write") is None
    hook = RunSpec(prompt="p", untrusted_input=True)
    assert policy_reason(hook, "Read") is None
    for t in ("Bash", "Write", "Edit", "NotebookEdit", "mcp__memory__set"):
        assert policy_reason(hook, t) is not None, t
    opted_out = RunSpec(prompt="p", untrusted_input=True, ask_first_writes=False)
    assert policy_reason(opted_out, "Bash") is None
    assert policy_reason(RunSpec(prompt="p", ask_first_writes=True), "Edit") is not None


async def test_webhook_and_quick_doors(tmp_path: Path) -> None:
    async with open_runner(tmp_path) as runner:
        await runner.servers.seed_builtins()
        hooks = for_runner(runner)
        with pytest.raises(InvalidInput) as exc:
            await hooks.create(
                {"name": "h", "prompt_template": "x", "scheme": "github", "ask_first": ["Nope"]}
            )
        assert exc.value.field == "ask_first"
        hook, _, _ = await hooks.create(
            {
                "name": "h",
                "prompt_template": "x {{payload.a}}",
                "scheme": "github",
                "mcp_servers": ["email"],
                "ask_first": ["mcp__email__send"],
                "ask_first_writes": False,
            }
        )
        assert hook.spec.ask_first == ("mcp__email__send",)
        assert hook.spec.ask_first_writes is False  # the owner opted out of the default
        updated, _ = await hooks.update(hook.webhook_id, {"description": "d"})
        assert updated.spec.ask_first == ("mcp__email__send",)  # kept across edits
        with pytest.raises(InvalidInput):
            await runner.runs.quick("p", approvals={"approval_on_timeout": "never"})
        run, _ = await runner.runs.quick(
            "p", tools=["Bash"], approvals={"ask_first": ["Bash"], "approval_timeout_seconds": 9}
        )
        assert run.spec.ask_first == ("Bash",) and run.spec.approval_timeout_seconds == 9
