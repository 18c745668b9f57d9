"""Sandbox decisions of a run and the health facts, without a CLI."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from actors.executor_options import ExecutorSettings, run_dirs
from actors.executor_sandbox import bwrap_failure, refusal, run_box, sandbox_health
from actors.sandbox import SandboxError, ro


def test_refusal_by_mode_and_needs() -> None:
    assert refusal("auto", None, ("Bash",), ()) is None  # a sandbox is there
    assert refusal("off", "no bwrap", ("Bash",), ()) is None  # the operator's choice
    assert refusal("auto", "no bwrap", (), ()) is None  # a plain prompt needs no sandbox
    why = refusal("auto", "no bwrap", (), ("poster",))
    assert why and "needs tools" in why and "no bwrap" in why and "'off'" in why
    assert refusal("required", "no bwrap", (), ()) is not None


def test_health_warns_loudly(tmp_path: Path) -> None:
    s = ExecutorSettings(data_dir=tmp_path, sandbox_available=False)
    off = sandbox_health(s, "off")
    assert off["mode"] == "off" and "unconfined" in off["warning"]
    none = sandbox_health(s, "auto")
    assert none["available"] is False and "refused" in none["warning"]
    ok = sandbox_health(msgspec.structs.replace(s, sandbox_available=True), "auto")
    assert ok["available"] is True and ok["warning"] is None


def test_run_box_view(tmp_path: Path) -> None:
    s = ExecutorSettings(data_dir=tmp_path / "data")
    dirs = run_dirs(s, "r1", "job1")
    box = run_box(s, dirs, {"ANTHROPIC_API_KEY": "k", "BLANKED": ""}, [ro("/srv/x")])
    args = box.args()
    assert "/opt/claude/claude" in args and str(dirs.workspace) in args
    assert args[args.index("--tmpfs", args.index("/tmp") + 1) + 1] == str(s.data_dir)
    assert box.env["TMPDIR"] == "/tmp" and "BLANKED" not in box.env
    assert box.cwd == str(dirs.workspace)


def test_run_box_refuses_a_workspace_swapped_for_a_link(tmp_path: Path) -> None:
    s = ExecutorSettings(data_dir=tmp_path / "data")
    dirs = run_dirs(s, "r1", "job1")
    dirs.workspace.rmdir()
    dirs.workspace.symlink_to("/etc")
    with pytest.raises(SandboxError, match="outside"):
        run_box(s, dirs, {}, [])


def test_bwrap_failure_is_found_in_stderr() -> None:
    assert bwrap_failure(["x", "bwrap: Can't find source path /nope: No such file"]) == (
        "bwrap: Can't find source path /nope: No such file"
    )
    assert bwrap_failure(["all fine"]) is None
