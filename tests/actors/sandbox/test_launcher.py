"""The launcher itself: argument order, the environment and argv seen inside, lifetime."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from actors.sandbox import Box, SandboxError, contained, inner_env, probe, ro, rw
from actors.sandbox.mounts import check_path

needs_bwrap = pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")


def _run(box: Box, script: str, extra_env: dict[str, str] | None = None) -> str:
    program, env = box.command()
    done = subprocess.run(
        [program, "/bin/sh", "-c", script],
        env={**os.environ, **(extra_env or {}), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout + done.stderr


def test_mount_order_tmp_first_root_read_only_last(tmp_path: Path) -> None:
    ws = tmp_path / "data" / "workspaces" / "j"
    box = Box(
        tmp=tmp_path / "t",
        mounts=(ro("/srv/code"),),
        hide=(tmp_path / "data",),
        late_mounts=(rw(ws),),
        cwd=str(ws),
    )
    args = box.args()
    assert args.index("/tmp") < args.index("/usr") < args.index("/srv/code")
    assert args.index("--tmpfs") < args.index(str(ws))
    assert args[-2:] == ["--remount-ro", "/"]
    assert ["--remount-ro", str(tmp_path / "data")] == args[-6:-4]
    for flag in ("--unshare-pid", "--die-with-parent", "--new-session", "--cap-drop"):
        assert flag in args


def test_paths_that_break_the_argument_list_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError):
        check_path("relative/path")
    with pytest.raises(SandboxError):
        Box(late_mounts=(rw("/tmp/a\n--bind / /x"),)).args()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to("/etc")
    with pytest.raises(SandboxError, match="outside"):
        contained(tmp_path / "root" / "link", tmp_path / "root", "workspace")


def test_values_never_on_a_command_line(tmp_path: Path) -> None:
    box = Box(tmp=tmp_path, env={"API_KEY": "value-SECRET"})
    _, env = box.command("/bin/true")
    assert "value-SECRET" not in env["SBX_ARGV"]
    assert env["SBX_KEEP"] == "API_KEY"


@needs_bwrap
def test_inside_only_the_whitelist_and_no_arguments(tmp_path: Path) -> None:
    box = Box(tmp=tmp_path, env=inner_env({"OWN": "mine"}, home="/tmp"))
    out = _run(
        box,
        "tr '\\0' '\\n' < /proc/1/environ; echo; tr '\\0' ' ' < /proc/1/cmdline; echo; "
        "grep CapEff /proc/self/status; ls /proc | grep -c '^[0-9]'",
        {"SECRET_HOST_VAR": "host-LEAK", "RUNNER_SECRET_KEY": "key-LEAK"},
    )
    assert "LEAK" not in out
    assert "OWN=mine" in out and "PATH=/usr/local/bin:/usr/bin:/bin" in out
    assert "--args 3 -- /bin/sh -c" in out and "--bind" not in out and "--ro-bind" not in out
    assert "CapEff:\t0000000000000000" in out


@needs_bwrap
def test_a_bad_mount_fails_with_bwraps_reason(tmp_path: Path) -> None:
    out = _run(Box(tmp=tmp_path, late_mounts=(rw("/nonexistent-i10"),)), "echo ran")
    assert "bwrap:" in out and "nonexistent-i10" in out and "ran" not in out


SPAWNER = """
import os, subprocess, sys, time
program = sys.argv[1]
p = subprocess.Popen([program, "/bin/sh", "-c", "setsid sleep 5151 & (sleep 5152 &); sleep 5153"])
print(p.pid, flush=True)
time.sleep(60)
"""


def _alive_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            comm = Path(f"/proc/{pid}/comm").read_text().strip() if marker in cmd else ""
            if comm == "sleep" and state != "Z":
                found.append(int(pid))
    return found


@needs_bwrap
def test_everything_inside_dies_with_the_parent(tmp_path: Path) -> None:
    """``kill -9`` of the process that started the sandbox: setsid'd and double-forked
    children inside die too (pid namespace + --die-with-parent), within 2 s."""
    box = Box(tmp=tmp_path, env=inner_env({}, home="/tmp"))
    program, env = box.command()
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SPAWNER), program],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        parent.stdout.readline()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_alive_with("sleep 515")) < 3:
            time.sleep(0.05)
        assert len(_alive_with("sleep 515")) == 3
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < 2.0 and _alive_with("sleep 515"):
        time.sleep(0.05)
    assert _alive_with("sleep 515") == []
