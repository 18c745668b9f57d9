"""Executor parts without the CLI: gate, recorder, failure classification, env, no-op client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from claude_agent_sdk._errors import CLINotFoundError, ProcessError, ResultError
from claude_agent_sdk.types import StreamEvent
from hypothesis import given
from hypothesis import strategies as st

from actors.executor import Executor
from actors.executor_client import noop_client_factory
from actors.executor_errors import from_exception, from_result
from actors.executor_gate import NO_SANDBOX, Gate, targets
from actors.executor_options import (
    ExecutorSettings,
    auth_mode,
    build_env,
    find_cli,
    remove_scratch,
    run_dirs,
)
from actors.executor_output import Recorder, Redactor
from events import SQLiteEventStore
from events.runs import RunOutput, RunOutputTruncated, RunStarted, RunSucceeded, RunUsage
from tests.actors.conftest import ctx, events_of

# -- gate ----------------------------------------------------------------------------------


def _gate(tmp_path: Path, *, sandbox: bool = True) -> tuple[Gate, list[tuple[str, ...]]]:
    denied: list[tuple[str, ...]] = []

    async def on_denied(tool: str, reason: str, target: str, tid: str | None) -> None:
        denied.append((tool, reason, target, tid or ""))

    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    gate = Gate(
        workspace=ws,
        tools=("Read", "Write", "Glob", "Bash", "WebFetch"),
        servers=("demo",),
        sandbox=sandbox,
        on_denied=on_denied,
    )
    return gate, denied


def test_gate_decisions(tmp_path: Path) -> None:
    gate, _ = _gate(tmp_path)
    ws = tmp_path / "ws"
    (tmp_path / "elsewhere").mkdir()
    (ws / "link").symlink_to(tmp_path / "elsewhere")
    allow: list[tuple[str, dict[str, Any]]] = [
        ("Read", {"file_path": str(ws / "a.txt")}),
        ("Write", {"file_path": "sub/b.txt"}),
        ("Glob", {"pattern": "**/*.py"}),
        ("Glob", {"pattern": "*.py", "path": str(ws)}),
        ("mcp__demo__add", {}),
        ("Bash", {"command": "ls"}),
        ("WebFetch", {"url": "https://example.com"}),
    ]
    deny: list[tuple[str, dict[str, Any]]] = [
        ("Read", {"file_path": "/etc/passwd"}),
        ("Write", {"file_path": str(ws / "link" / "x.txt")}),  # symlink out of the workspace
        ("Write", {"file_path": "../x.txt"}),
        ("Read", {"file_path": "~/.ssh/id_rsa"}),
        ("Glob", {"pattern": "/etc/**"}),
        ("Glob", {"pattern": "../../**/*.key"}),
        ("Glob", {"pattern": "*/../../x"}),
        ("Grep", {"pattern": "k", "glob": "../*"}),
        ("Edit", {"file_path": str(ws / "a.txt")}),  # not a tool of this job
        ("mcp__other__steal", {}),
        ("Bash", {"command": "ls", "dangerouslyDisableSandbox": True}),
        ("Task", {}),
    ]
    for tool, inp in allow:
        assert gate.decide(tool, inp) is None, (tool, inp)
    for tool, inp in deny:
        assert gate.decide(tool, inp) is not None, (tool, inp)


def test_bash_without_sandbox_is_refused(tmp_path: Path) -> None:
    gate, _ = _gate(tmp_path, sandbox=False)
    assert gate.decide("Bash", {"command": "ls"}) == (NO_SANDBOX, "ls")


@pytest.mark.anyio
async def test_denials_are_reported_once(tmp_path: Path) -> None:
    gate, denied = _gate(tmp_path)
    inp = {"file_path": "/etc/passwd"}
    hook_input: Any = {"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": inp}
    out: Any = await gate.pre_tool_use(hook_input, "toolu_1", {"signal": None})
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"
    from claude_agent_sdk import PermissionResultDeny, ToolPermissionContext

    res = await gate.can_use_tool("Read", inp, ToolPermissionContext(tool_use_id="toolu_1"))
    assert isinstance(res, PermissionResultDeny)
    assert denied == [
        ("Read", "/etc/passwd is outside the job's workspace", "/etc/passwd", "toolu_1")
    ]


@given(st.lists(st.sampled_from(["a", "..", ".", "b", "*", "**", "/"]), max_size=6))
def test_glob_patterns_never_escape(parts: list[str]) -> None:
    ws = Path("/srv/ws")
    gate = Gate(workspace=ws, tools=("Glob",), servers=(), sandbox=False, on_denied=_no)
    pattern = "/".join(parts) or "*"
    allowed = gate.decide("Glob", {"pattern": pattern}) is None
    if allowed:  # then every path the pattern could match stays under the workspace
        assert ".." not in pattern.split("/")
        assert all(
            Path(os.path.normpath(ws / t)).is_relative_to(ws)
            for t in targets("Glob", {"pattern": pattern})
        )


async def _no(*a: Any) -> None:
    return None


# -- recorder --------------------------------------------------------------------------------


def test_recorder_caps_redaction_and_usage() -> None:
    rec = Recorder("r", redact=Redactor(["hunter2"]), max_block_chars=10, max_run_chars=25)
    evs: list[Any] = []
    evs += rec.handle(StreamEvent(uuid="u", session_id="s", event=_start("m1")))
    evs += rec.handle(
        AssistantMessage(
            content=[TextBlock("pw hunter2 ok"), ToolUseBlock("t1", "mcp__x__y", {"k": "hunter2"})],
            model="claude-sonnet-4-5",
            message_id="m1",
        )
    )
    evs += rec.handle(StreamEvent(uuid="u", session_id="s", event=_delta(42)))
    evs += rec.handle(
        AssistantMessage(content=[ToolResultBlock("t1", "zzzzzzzzzzzz")], model="claude-x")
    )
    evs += rec.handle(AssistantMessage(content=[TextBlock("dropped")], model="claude-x"))
    evs += rec.finish()
    outs = [e for e in evs if isinstance(e, RunOutput)]
    assert [o.seq for o in outs] == [0, 1, 2]
    assert outs[0].text == "pw [redact" and outs[0].truncated
    assert outs[1].data is None and "hunter2" not in outs[1].text
    assert outs[2].tool_name == "mcp__x__y"
    assert all("hunter2" not in repr(e) for e in evs)
    cuts = [(e.limit, e.dropped_chars) for e in evs if isinstance(e, RunOutputTruncated)]
    assert ("run", 5) in cuts and ("run_total", 12) in cuts
    usage = [e for e in evs if isinstance(e, RunUsage)]
    assert len(usage) == 1 and usage[0].usage.output_tokens == 42
    assert usage[0].usage.input_tokens == 100


def test_api_retry_becomes_visible() -> None:
    rec = Recorder("r", redact=Redactor([]), max_block_chars=100, max_run_chars=1000)
    data = {"attempt": 1, "max_retries": 2, "error": "overloaded", "error_status": 529}
    (ev,) = rec.handle(SystemMessage(subtype="api_retry", data=data))
    assert isinstance(ev, RunOutput) and ev.kind == "system" and "HTTP 529" in ev.text


def _start(mid: str) -> dict[str, Any]:
    usage = {"input_tokens": 100, "output_tokens": 1}
    return {"type": "message_start", "message": {"id": mid, "model": "m", "usage": usage}}


def _delta(out: int) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {}, "usage": {"output_tokens": out}}


# -- failure classification -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (529, "overloaded", True),
        (500, "api_error", True),
        (503, "api_error", True),
        (429, "rate_limited", True),
        (401, "authentication", False),
        (403, "authentication", False),
        (404, "invalid_request", False),
        (400, "invalid_request", False),
    ],
)
def test_status_classification(status: int, reason: str, retryable: bool) -> None:
    f = from_result(
        subtype="success",
        terminal_reason="api_error",
        status=status,
        errors=[],
        text="API Error",
        api_error=None,
        model="m",
    )
    assert (f.reason, f.retryable) == (reason, retryable)


def test_exception_classification() -> None:
    assert from_exception(CLINotFoundError("x"), None, None).reason == "cli_not_found"
    crash = from_exception(ProcessError("x", exit_code=137), None, None)
    assert (crash.reason, crash.retryable) == ("cli_crashed", True)
    budget = ResultError("x", {"subtype": "error_max_budget_usd"})
    assert from_exception(budget, None, None).reason == "budget_exceeded"
    turns = ResultError("x", {"subtype": "error_max_turns", "terminal_reason": "max_turns"})
    assert from_exception(turns, None, None).reason == "max_turns"
    auth = ResultError("x", {"subtype": "success", "terminal_reason": "api_error"})
    f = from_exception(auth, "authentication_failed", None)
    assert f.reason == "authentication" and "not authenticated" in f.message
    assert not from_exception(ValueError("bug"), None, None).retryable


# -- options ----------------------------------------------------------------------------------


def test_env_blanks_the_parent_and_sets_isolation(tmp_path: Path) -> None:
    s = ExecutorSettings(
        data_dir=tmp_path,
        auth_env={"CLAUDE_CODE_USE_BEDROCK": "1", "AWS_REGION": "eu-west-1"},
        tmp_root=tmp_path,
    )
    dirs = run_dirs(s, "r1", None)
    parent = {
        "ANTHROPIC_API_KEY": "leak",
        "AWS_REGION": "us-east-1",
        "https_proxy": "http://proxy",
        "CLAUDE_CONFIG_DIR": "/root/.claude",
        "PATH": "/usr/bin",
    }
    env = build_env(s, dirs, parent)
    assert env["ANTHROPIC_API_KEY"] == "" and env["https_proxy"] == ""
    assert env["AWS_REGION"] == "eu-west-1" and env["CLAUDE_CODE_USE_BEDROCK"] == "1"
    assert env["CLAUDE_CONFIG_DIR"] == str(dirs.config) and env["TMPDIR"] == str(dirs.tmp)
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert "PATH" not in env
    remove_scratch(dirs)
    assert not dirs.tmp.exists() and not dirs.scratch.exists()


def test_auth_mode_and_login_copy(tmp_path: Path) -> None:
    def mode(env: dict[str, str], login: Path | None = None) -> str:
        return auth_mode(
            ExecutorSettings(data_dir=tmp_path, auth_env=env, host_claude_config_dir=login)
        )

    assert mode({}) == "none"
    assert mode({"ANTHROPIC_API_KEY": "k"}) == "api_key"
    assert mode({"CLAUDE_CODE_USE_BEDROCK": "1"}) == "bedrock"
    assert mode({"CLAUDE_CODE_USE_VERTEX": "true"}) == "vertex"
    host = tmp_path / "host"
    host.mkdir()
    (host / ".credentials.json").write_text('{"token": "t"}')
    (host / "settings.json").write_text("{}")
    assert mode({}, host) == "claude_login"
    s = ExecutorSettings(data_dir=tmp_path, host_claude_config_dir=host, tmp_root=tmp_path)
    dirs = run_dirs(s, "r2", "job")
    assert sorted(os.listdir(dirs.config)) == [".credentials.json"]
    remove_scratch(dirs)


def test_find_cli(tmp_path: Path) -> None:
    assert find_cli(ExecutorSettings(data_dir=tmp_path)) is not None
    assert find_cli(ExecutorSettings(data_dir=tmp_path, cli_path=tmp_path / "nope")) is None


# -- the executor with the no-op client ---------------------------------------------------------


@pytest.mark.anyio
async def test_noop_client_runs_through_the_executor(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    s = ExecutorSettings(data_dir=tmp_path / "d", tmp_root=tmp_path)
    await Executor(store, s, client_factory=noop_client_factory).execute(ctx("n1", "hi"))
    evs = await events_of(store, "n1")
    assert isinstance(evs[0], RunStarted) and isinstance(evs[-1], RunSucceeded)
    assert [e.text for e in evs if isinstance(e, RunOutput)] == ["ok"]


_ = ResultMessage  # imported for readers: NoopClient yields one
