"""Workspace confinement, the Bash sandbox and environment isolation, with the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from actors.executor import Executor
from actors.executor_gate import NO_SANDBOX, Gate
from actors.executor_options import ExecutorSettings
from events import SQLiteEventStore
from events.runs import RunFailed, RunOutput, RunSucceeded, RunToolDenied
from tests.actors.conftest import ctx, events_of
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

HAVE_SANDBOX = bool(shutil.which("bwrap") and shutil.which("socat"))
FILE_TOOLS = ("Read", "Write", "Bash")


def _attack(ws: Path, outside: Path) -> list[Turn | Text]:
    return [
        Turn(
            [
                ToolUse("Write", {"file_path": str(ws / "in.txt"), "content": "inside"}),
                ToolUse("Write", {"file_path": str(outside / "out.txt"), "content": "escape"}),
                ToolUse("Write", {"file_path": "../../escape-rel.txt", "content": "escape"}),
                ToolUse("Read", {"file_path": "/etc/hostname"}),
            ]
        ),
        Turn(
            [
                ToolUse(
                    "Bash",
                    {
                        "command": f"echo x > {outside}/bash.txt; echo ok > bash-in.txt",
                        "description": "write files",
                    },
                )
            ]
        ),
        Text("done"),
    ]


@pytest.mark.skipif(not HAVE_SANDBOX, reason="needs bwrap and socat")
async def test_file_tools_confined_and_bash_sandboxed(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI, tmp_path: Path
) -> None:
    ws = settings.data_dir / "workspaces" / "job1"
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = fake_api.script("attack", _attack(ws, outside))
    await Executor(store, settings).execute(ctx("ra", f"go {marker}", tools=FILE_TOOLS))
    evs = await events_of(store, "ra")
    denied = [e for e in evs if isinstance(e, RunToolDenied)]
    assert sorted((d.tool, d.target) for d in denied) == sorted(
        [
            ("Write", str(outside / "out.txt")),
            ("Write", str(settings.data_dir / "escape-rel.txt")),  # absolutized by the CLI
            ("Read", "/etc/hostname"),
        ]
    )
    assert all("outside the job's workspace" in d.reason for d in denied)
    calls = {e.tool_use_id for e in evs if isinstance(e, RunOutput) and e.kind == "tool_use"}
    assert all(d.tool_use_id in calls for d in denied)  # the dashboard attaches each to its call
    assert (ws / "in.txt").read_text() == "inside"
    assert not (outside / "out.txt").exists() and not (outside / "bash.txt").exists()
    assert not (settings.data_dir / "escape-rel.txt").exists()
    assert (ws / "bash-in.txt").read_text().strip() == "ok"  # Bash ran, in the sandbox
    results = [e for e in evs if isinstance(e, RunOutput) and e.kind == "tool_result"]
    bash = [r for r in results if r.tool_name == "Bash"]
    assert bash and "No such file or directory" in bash[0].text  # outside is not even visible
    assert isinstance(evs[-1], RunSucceeded)


async def test_tool_run_refused_without_sandbox(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI, tmp_path: Path
) -> None:
    """No sandbox and mode ``auto``: a run with tools is refused before the CLI starts."""
    no_box = msgspec.structs.replace(settings, sandbox_available=False)
    marker = fake_api.script("nobox-auto", [Text("never")])
    await Executor(store, no_box).execute(ctx("rn", f"go {marker}", tools=("Bash",)))
    evs = await events_of(store, "rn")
    assert isinstance(evs[-1], RunFailed) and evs[-1].reason == "sandbox_unavailable"
    assert "sandbox mode 'off'" in evs[-1].message
    assert not fake_api.requests_for("nobox-auto")


async def test_bash_refused_with_sandbox_mode_off(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI, tmp_path: Path
) -> None:
    no_box = msgspec.structs.replace(settings, sandbox_available=False, sandbox_mode="off")
    target = tmp_path / "unsandboxed.txt"
    bash = ToolUse("Bash", {"command": f"echo x > {target}", "description": "write"})
    marker = fake_api.script("nobox", [bash, Text("done")])
    await Executor(store, no_box).execute(ctx("rb", f"go {marker}", tools=("Bash",)))
    evs = await events_of(store, "rb")
    denied = [e for e in evs if isinstance(e, RunToolDenied)]
    assert [(d.tool, d.reason) for d in denied] == [("Bash", NO_SANDBOX)]
    assert not target.exists()
    notes = [e.text for e in evs if isinstance(e, RunOutput) and e.kind == "system"]
    assert NO_SANDBOX in notes
    assert isinstance(evs[-1], RunSucceeded)


async def test_parent_environment_does_not_reach_the_cli(
    store: SQLiteEventStore,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "parent-key-LEAK")
    monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", "x-sentinel: parent-LEAK")
    monkeypatch.setenv("ANTHROPIC_MODEL", "claude-parent-LEAK")
    monkeypatch.setenv("CLAUDE_RUNNER_SENTINEL", "sentinel-LEAK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-LEAK")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    steps: list[Turn | Text | ToolUse] = [Text("fine")]
    tools: tuple[str, ...] = ()
    if HAVE_SANDBOX:
        steps = [ToolUse("Bash", {"command": "env", "description": "env"}), Text("fine")]
        tools = ("Bash",)
    marker = fake_api.script("env", steps)
    await Executor(store, settings).execute(ctx("re", f"go {marker}", tools=tools))
    evs = await events_of(store, "re")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    reqs = fake_api.requests_for("env")
    assert reqs and all(r.headers.get("x-api-key") == "test-key-run" for r in reqs)
    assert all("LEAK" not in repr(r.headers) for r in reqs)
    assert all((r.body or {}).get("model") == "claude-sonnet-4-5" for r in reqs)
    if HAVE_SANDBOX:
        out = [e.text for e in evs if isinstance(e, RunOutput) and e.kind == "tool_result"]
        assert out and "CLAUDE_CONFIG_DIR=" in out[0]
        assert "LEAK" not in out[0]
    assert all("test-key-run" not in repr(e) for e in evs)  # the run's own key is redacted


async def test_cli_restricted_flag_is_a_second_wall(
    store: SQLiteEventStore,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With our gate forced open, ``--restricted`` alone still keeps Write in the workspace,
    and the CLI's own denial is recorded from the result's ``permission_denials``."""
    monkeypatch.setattr(Gate, "decide", lambda self, tool, tool_input: None)
    target = tmp_path / "restricted-out.txt"
    write = ToolUse("Write", {"file_path": str(target), "content": "escape"})
    marker = fake_api.script("restricted", [write, Text("done")])
    await Executor(store, settings).execute(ctx("rr", f"go {marker}", tools=("Write",)))
    evs = await events_of(store, "rr")
    assert not target.exists()
    denied = [e for e in evs if isinstance(e, RunToolDenied)]
    assert [(d.tool, d.reason, d.target) for d in denied] == [
        ("Write", "denied by Claude Code", str(target))
    ]
    assert isinstance(evs[-1], RunSucceeded)
