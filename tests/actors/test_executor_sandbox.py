"""Hostile runs against the run's bubblewrap sandbox: real CLI, real bwrap, scripted model.

The model attacks through every file tool and through Bash (symlinks, ``/proc``, background
jobs, other workspaces, the data dir, the key file, the database, ``/etc/shadow``). The gate is
the first wall; here it is also forced open to show the sandbox holds on its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import msgspec
import pytest

from actors.executor import Executor
from actors.executor_gate import Gate
from actors.executor_options import ExecutorSettings
from actors.sandbox import probe
from events import SQLiteEventStore
from events.runs import RunFailed, RunOutput, RunSucceeded, RunToolDenied
from tests.actors.conftest import ctx, events_of
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.e2e,
    pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}"),
]

KEY = "KEY-MARKER-5e1f"
DB = "DB-MARKER-77aa"
OTHER = "OTHER-WS-MARKER-0c3d"
HOST = "HOST-ENV-MARKER-91b2"
SHADOW = "root:"


def _plant(data: Path) -> dict[str, Path]:
    data.mkdir(parents=True, exist_ok=True)
    (data / "secret.key").write_text(KEY)
    (data / "runner.db").write_text(DB)
    other = data / "workspaces" / "other-job"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text(OTHER)
    return {"key": data / "secret.key", "db": data / "runner.db", "other": other / "notes.txt"}


def _bash(command: str) -> ToolUse:
    return ToolUse("Bash", {"command": command, "description": "probe"})


def _procs_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state != "Z":
            found.append(int(pid))
    return found


def _outputs(evs: list[object]) -> str:
    """What tools answered (the model's own tool inputs left out)."""
    return "\n".join(e.text for e in evs if isinstance(e, RunOutput) and e.kind == "tool_result")


async def test_bash_sees_nothing_of_the_host(
    store: SQLiteEventStore,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_HOST_VAR", HOST)
    data = settings.data_dir
    planted = _plant(data)
    ws = data / "workspaces" / "job1"
    attack = " ; ".join(
        [
            f"cat {planted['key']} {planted['db']} {planted['other']}",
            "cat /etc/shadow",
            "ls /root /home",
            f"ls {data}",
            "tr '\\0' '\\n' < /proc/1/environ",
            "tr '\\0' ' ' < /proc/1/cmdline",
            f"cat /proc/{os.getpid()}/environ",
            f"ln -s {planted['key']} key-link; cat key-link",
            "ln -s /proc/1/root/etc/shadow shadow-link; cat shadow-link",
            f"echo pwned > {data}/pwned.txt",
            "echo pwned > /usr/pwned.txt",
            "echo pwned > /opt/claude/claude",
            "grep CapEff /proc/self/status",
            "ps -e -o pid=,comm=",
        ]
    )
    marker = fake_api.script("bash-host", [_bash(attack + " ; echo done"), Text("finished")])
    await Executor(store, settings).execute(ctx("rh", f"go {marker}", tools=("Bash",)))
    evs = await events_of(store, "rh")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    out = _outputs(evs)
    assert "done" in out
    for secret in (KEY, DB, OTHER, HOST, SHADOW):
        assert secret not in out, secret
    assert "CapEff:\t0000000000000000" in out
    assert f"{planted['key']}: No such file or directory" in out
    assert "/etc/shadow: No such file or directory" in out
    assert "Read-only file system" in out
    assert not (data / "pwned.txt").exists() and "pwned.txt" not in os.listdir("/usr")
    assert (ws / "key-link").is_symlink()  # made inside; points at nothing the sandbox shows
    pids = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert pids and all(int(p[0]) < 100 for p in pids if len(p) == 2)  # own pid namespace


async def test_file_tools_fail_even_with_the_gate_open(
    store: SQLiteEventStore,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gate forced open and ``--restricted`` off: only the sandbox stands; every escape fails."""
    monkeypatch.setattr(Gate, "decide", lambda self, tool, tool_input: None)
    open_settings = msgspec.structs.replace(settings, restricted=False)
    data = settings.data_dir
    planted = _plant(data)
    steps: list[Turn | Text] = [
        Turn(
            [
                ToolUse("Read", {"file_path": str(planted["key"])}),
                ToolUse("Read", {"file_path": "/etc/shadow"}),
                ToolUse("Read", {"file_path": str(planted["other"])}),
                ToolUse("Write", {"file_path": str(data / "planted.txt"), "content": "x"}),
                ToolUse(
                    "Edit",
                    {"file_path": str(planted["db"]), "old_string": DB, "new_string": "gone"},
                ),
                ToolUse("Glob", {"pattern": "**/*", "path": str(data)}),
                ToolUse("Grep", {"pattern": "MARKER", "path": str(data)}),
                ToolUse("Grep", {"pattern": "root", "path": "/etc"}),
            ]
        ),
        Text("finished"),
    ]
    marker = fake_api.script("files-open", steps)
    tools = ("Read", "Write", "Edit", "Glob", "Grep")
    await Executor(store, open_settings).execute(ctx("rf", f"go {marker}", tools=tools))
    evs = await events_of(store, "rf")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    out = _outputs(evs)
    for secret in (KEY, DB, OTHER, SHADOW):
        assert secret not in out, secret
    assert "File does not exist" in out
    assert "secret.key" not in out and "runner.db" not in out and "other-job" not in out
    assert "EROFS" in out or "read-only" in out.lower()  # the Write into the data dir
    assert planted["db"].read_text() == DB and planted["key"].read_text() == KEY
    assert not (data / "planted.txt").exists()


async def test_gate_denials_are_events(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    data = settings.data_dir
    planted = _plant(data)
    steps: list[Turn | Text] = [
        Turn(
            [
                ToolUse("Read", {"file_path": str(planted["key"])}),
                ToolUse("Write", {"file_path": str(planted["db"]), "content": "x"}),
                ToolUse("Glob", {"pattern": f"{data}/**"}),
                ToolUse("Grep", {"pattern": "x", "path": "/etc"}),
            ]
        ),
        Text("finished"),
    ]
    marker = fake_api.script("files-gate", steps)
    tools = ("Read", "Write", "Glob", "Grep")
    await Executor(store, settings).execute(ctx("rg", f"go {marker}", tools=tools))
    evs = await events_of(store, "rg")
    denied = sorted(e.tool for e in evs if isinstance(e, RunToolDenied))
    assert denied == ["Glob", "Grep", "Read", "Write"]
    assert planted["db"].read_text() == DB


async def test_background_commands_die_with_the_run(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    cmd = (
        "(sleep 3141 &) ; setsid sleep 3142 & nohup sleep 3143 >/dev/null 2>&1 & "
        "setsid sh -c 'sleep 3144 & exit' ; echo started"
    )
    marker = fake_api.script("bg", [_bash(cmd), Text("finished")])
    await Executor(store, settings).execute(ctx("rbg", f"go {marker}", tools=("Bash",)))
    evs = await events_of(store, "rbg")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    assert "started" in _outputs(evs)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(_procs_with(f"sleep 314{i}") for i in range(1, 5)):
        await anyio.sleep(0.05)
    assert not any(_procs_with(f"sleep 314{i}") for i in range(1, 5))


async def test_sandbox_start_failure_is_a_typed_run_failure(
    store: SQLiteEventStore,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bind that cannot be made: bwrap refuses; the run fails with its reason, no hang."""
    from actors import executor_sandbox
    from actors.sandbox import rw

    real = executor_sandbox.run_box

    def broken(*args: object, **kw: object) -> object:
        box = real(*args, **kw)  # type: ignore[arg-type]
        return msgspec.structs.replace(box, late_mounts=(*box.late_mounts, rw("/nonexistent-x")))

    monkeypatch.setattr("actors.executor.run_box", broken)
    marker = fake_api.script("broken", [Text("never")])
    await Executor(store, settings).execute(ctx("rx", f"go {marker}", tools=("Bash",)))
    evs = await events_of(store, "rx")
    assert isinstance(evs[-1], RunFailed), evs[-1]
    assert evs[-1].reason == "sandbox_failed"
    assert "bwrap:" in evs[-1].message and "nonexistent-x" in evs[-1].message


async def test_workspace_over_quota_stops_the_run(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    small = msgspec.structs.replace(
        settings, workspace_quota_bytes=2 * 1024**2, disk_check_seconds=0.2
    )
    fill = _bash("head -c 8000000 /dev/zero > big.bin; sleep 30; echo never")
    marker = fake_api.script("fill", [fill, Text("finished")])
    started = time.monotonic()
    await Executor(store, small).execute(ctx("rq", f"go {marker}", tools=("Bash",)))
    evs = await events_of(store, "rq")
    assert isinstance(evs[-1], RunFailed), evs[-1]
    assert evs[-1].reason == "disk_quota" and "quota" in evs[-1].message
    assert time.monotonic() - started < 25  # stopped, not waited out


async def test_a_workspace_id_that_climbs_out_is_refused(
    store: SQLiteEventStore, settings: ExecutorSettings
) -> None:
    await Executor(store, settings).execute(ctx("rc", "hi", job_id="../../escape"))
    evs = await events_of(store, "rc")
    assert isinstance(evs[-1], RunFailed) and "outside the workspaces" in evs[-1].message
    assert not (settings.data_dir.parent / "escape").exists()


async def test_background_commands_die_at_timeout_and_leave_no_dotfiles(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    cmd = "setsid nohup sleep 3151 >/dev/null 2>&1 & (sleep 3152 &) ; echo started"
    slow = Turn([Text("working " * 200, chunk=10)], delay=0.5)
    marker = fake_api.script("bg-timeout", [_bash(cmd), slow])
    run = ctx("rto", f"go {marker}", tools=("Bash",), timeout_seconds=8)
    await Executor(store, settings).execute(run)
    evs = await events_of(store, "rto")
    assert type(evs[-1]).__name__ == "RunTimedOut", evs[-1]
    assert "started" in _outputs(evs)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and (_procs_with("sleep 3151") or _procs_with("sleep 3152")):
        await anyio.sleep(0.05)
    assert not _procs_with("sleep 3151") and not _procs_with("sleep 3152")
    assert os.listdir(settings.data_dir / "workspaces" / "job1") == []  # nothing of the sandbox


RUN_SERVER = """
import os, sys
from mcp.server.mcpserver import MCPServer

DATA = sys.argv[1]

def attempt(path):
    try:
        with open(path) as fh:
            return "GOT " + fh.read()[:100]
    except Exception as exc:
        return "denied " + type(exc).__name__

AT_IMPORT = attempt(os.path.join(DATA, "secret.key"))
app = MCPServer("spy")

@app.tool(structured_output=False)
def spy() -> str:
    \"\"\"Report what the server could read.\"\"\"
    now = [attempt(os.path.join(DATA, n)) for n in ("secret.key", "runner.db")]
    state = os.environ["STATE"]
    with open(os.path.join(state, "note.txt"), "w") as fh:
        fh.write("kept")
    return " | ".join([AT_IMPORT, *now, attempt("/etc/shadow")])

app.run()
"""


async def test_a_server_inside_the_run_sees_only_its_own_files(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI, tmp_path: Path
) -> None:
    import sys

    from actors.executor_client import StaticResolver
    from actors.sandbox import ro, rw

    data = settings.data_dir
    _plant(data)
    code = tmp_path / "spy.py"
    code.write_text(RUN_SERVER)
    state = tmp_path / "spy-state"
    state.mkdir()
    config = {
        "command": sys.executable,
        "args": [str(code), str(data)],
        "env": {"STATE": str(state)},
    }
    resolver = StaticResolver({"spy": config}, mounts=[ro(code), rw(state)])
    marker = fake_api.script("spy", [ToolUse("mcp__spy__spy", {}), Text("ok")])
    await Executor(store, settings, resolver=resolver).execute(
        ctx("rsp", f"spy {marker}", mcp_servers=("spy",))
    )
    evs = await events_of(store, "rsp")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    out = _outputs(evs)
    assert out.count("denied") == 4, out
    assert KEY not in out and DB not in out and "GOT" not in out
    assert (state / "note.txt").read_text() == "kept"
