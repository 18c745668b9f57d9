"""The assistant's pieces in the executor: kept folders (0700, plain ids only), the credential's
file removed after the turn, session persistence and ``--resume`` only for assistant turns, and
the loopback address a turn's MCP entry points at."""

from __future__ import annotations

from pathlib import Path

import pytest
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport

from actors.assistant_grants import AssistantDoor, AssistantUnavailable
from actors.assistant_run import conversation_dirs, end_turn, forget_conversation
from actors.executor_options import ExecutorSettings, build_options, run_dirs
from events.assistant import AssistantTurn


def options(tmp_path: Path, **kw: object) -> list[str]:
    settings = ExecutorSettings(data_dir=tmp_path, cli_path=Path("/bin/true"))
    dirs = run_dirs(settings, "run_1", None)
    opts = build_options(
        settings,
        dirs,
        model="claude-sonnet-4-5",
        tools=[],
        mcp_servers={},
        can_use_tool=None,
        pre_tool_use=lambda *a: None,
        stderr=lambda line: None,
        max_turns=None,
        budget_usd=None,
        sandbox=False,
        **kw,  # type: ignore[arg-type]
    )
    return SubprocessCLITransport(prompt="", options=opts)._build_command()


def resumed(cmd: list[str]) -> list[str]:
    return [a for a in cmd if a.startswith("--resume")]


def test_only_assistant_turns_keep_and_resume_a_session(tmp_path: Path) -> None:
    plain = options(tmp_path)
    assert "--no-session-persistence" in plain and not resumed(plain)
    ignored = options(tmp_path, resume="sess-x")  # resume without keep_session: ignored
    assert "--no-session-persistence" in ignored and not resumed(ignored)
    first = options(tmp_path, keep_session=True)
    assert "--no-session-persistence" not in first and not resumed(first)
    later = options(tmp_path, keep_session=True, resume="sess-1")
    assert resumed(later) == ["--resume=sess-1"]
    assert "--no-session-persistence" not in later


def test_conversation_dirs_are_kept_private_and_plain(tmp_path: Path) -> None:
    settings = ExecutorSettings(data_dir=tmp_path / "data", tmp_root=tmp_path)
    dirs = conversation_dirs(settings, "run_1", "conv_a")
    assert dirs.config == tmp_path / "data" / "assistant" / "conv_a" / "config"
    assert dirs.workspace == tmp_path / "data" / "workspaces" / "assistant-conv_a"
    for d in (dirs.config, dirs.config.parent, dirs.workspace, dirs.home):
        assert d.is_dir() and d.stat().st_mode & 0o777 == 0o700
    (dirs.config / "mcp.json").write_text("{}")
    (dirs.config / "projects").mkdir()
    end_turn(dirs)
    assert not (dirs.config / "mcp.json").exists() and (dirs.config / "projects").is_dir()
    assert not dirs.tmp.exists() and not dirs.scratch.exists() and dirs.workspace.is_dir()
    again = conversation_dirs(settings, "run_2", "conv_a")
    assert again.config == dirs.config and again.workspace == dirs.workspace
    end_turn(again)
    forget_conversation(settings.data_dir, "conv_a")
    assert not dirs.config.exists() and not dirs.workspace.exists()
    for bad in ("../etc", "a/b", ".hidden", "", "x" * 81):
        with pytest.raises(ValueError):
            conversation_dirs(settings, "run_3", bad)
    with pytest.raises(ValueError):
        conversation_dirs(settings, "../run", "conv_b")


def test_the_door_points_at_loopback_and_needs_a_listening_server() -> None:
    door = AssistantDoor()
    turn = AssistantTurn(conversation_id="conv_a", user="admin")
    with pytest.raises(AssistantUnavailable):
        door.open("run_1", turn, 60)
    for host, url in (
        ("0.0.0.0", "http://127.0.0.1:8080/mcp"),
        ("::", "http://[::1]:8080/mcp"),
        ("127.0.0.1", "http://127.0.0.1:8080/mcp"),
        ("10.1.2.3", "http://10.1.2.3:8080/mcp"),
    ):
        door.listening(host, 8080)
        config = door.open("run_1", turn, 60)["runner"]
        assert config["url"] == url and config["type"] == "http"
    token = config["headers"]["Authorization"].removeprefix("Bearer ")
    assert token.startswith("cra_") and len(token) > 40
    grant = door.find(token)
    assert grant is not None and grant.user == "admin" and grant.run_id == "run_1"
    assert door.find("crr_" + token[4:]) is None  # a relay token is not an MCP credential
    door.open("run_1", turn, 60)  # a new credential for the same run ends the old one
    assert door.find(token) is None


def test_a_session_not_on_this_node_is_not_resumed(tmp_path: Path) -> None:
    from actors.assistant_run import usable_resume

    settings = ExecutorSettings(data_dir=tmp_path / "data", tmp_root=tmp_path)
    dirs = conversation_dirs(settings, "run_1", "conv_a")
    assert usable_resume(dirs, None) is None
    assert usable_resume(dirs, "sess-1") is None  # no transcript here
    (dirs.config / "projects" / "-ws").mkdir(parents=True)
    (dirs.config / "projects" / "-ws" / "sess-1.jsonl").write_text("{}\n")
    assert usable_resume(dirs, "sess-1") == "sess-1"
    assert usable_resume(dirs, "../sess-1") is None
    assert usable_resume(dirs, "*") is None
    end_turn(dirs)
