"""The real CLI through the relay: the credential never reaches the run, budgets stop it
mid-way, a killed run's token is refused, and the stream passes through unchanged."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from actors.executor import Executor
from actors.executor_options import ExecutorSettings
from actors.relay import Relay
from events import SQLiteEventStore
from events.relay import ModelCallMetered, ModelCallRefused
from events.runs import RunFailed, RunOutput, RunSucceeded, RunUsage
from events.system import SettingsChanged
from tests.actors.relay.conftest import REAL_KEY, events_of, run_ctx
from tests.actors.relay.leaks import descendants, environ_of, files_under, find
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text, ToolUse, Turn

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
HAVE_SANDBOX = bool(shutil.which("bwrap") and shutil.which("socat"))


def test_encodings_cover_what_a_shell_prints() -> None:
    import base64
    import subprocess

    secret = "sk-ant-api03-abcDEF123"
    blob = subprocess.run(
        ["sh", "-c", f"printf 'KEY={secret}\\n' | base64 -w0; echo; printf '{secret}' | rev"],
        capture_output=True,
        check=True,
    ).stdout
    hits = {name for _, name in find(secret, {"out": blob})}
    assert "reversed" in hits and any(h.startswith("base64") for h in hits)
    assert find(secret, {"x": base64.b64encode(b"zz" + secret.encode())})


async def _watch_cli(
    executor: Executor, run_id: str, cfg_root: Path, seen: dict[str, bytes]
) -> None:
    """While the run's CLI lives: every process environment below it, and its config dir."""
    with anyio.fail_after(60):
        while run_id not in executor.active_pids:
            await anyio.sleep(0.01)
    pid = executor.active_pids[run_id]
    while run_id in executor.active_pids:
        for p in descendants(pid):
            env = environ_of(p)
            if env:
                seen[f"environ {p}"] = env
        for where, data in files_under(cfg_root).items():
            seen[f"file {where}"] = data
        await anyio.sleep(0.05)


async def test_the_key_never_reaches_the_run(
    store: SQLiteEventStore,
    executor: Executor,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the service's own environment holds the key, as when it is configured from env
    monkeypatch.setenv("ANTHROPIC_API_KEY", REAL_KEY)
    ws = settings.data_dir / "workspaces" / "job1"
    steps: list[Any] = [ToolUse("Write", {"file_path": str(ws / "w.txt"), "content": "hi"})]
    tools: tuple[str, ...] = ("Write",)
    if HAVE_SANDBOX:
        cmd = (
            "env > env.txt; env | base64 > env.b64; env | rev > env.rev; "
            "cat /proc/$PPID/environ > parent.env 2>/dev/null; "
            'ls -la "$CLAUDE_CONFIG_DIR" > cfg.txt; cat "$CLAUDE_CONFIG_DIR"/* > cfg.cat 2>/dev/null; '
            "echo done"
        )
        steps.append(ToolUse("Bash", {"command": cmd, "description": "look around"}))
        tools = ("Write", "Bash")
    steps.append(Turn([Text("finished " * 10, chunk=8)], delay=0.05))
    marker = fake_api.script("leak", steps)
    seen: dict[str, bytes] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_cli, executor, "lk", settings.data_dir / "runs", seen)
        await executor.execute(run_ctx("lk", f"go {marker}", tools=tools))
    evs = await events_of(store, "lk")
    assert isinstance(evs[-1], RunSucceeded), evs[-1]
    environs = [k for k in seen if k.startswith("environ")]
    assert environs, "the CLI's environment was inspected while it ran"
    cli_env = dict(kv.split(b"=", 1) for kv in seen[environs[0]].split(b"\0") if b"=" in kv)
    assert cli_env[b"ANTHROPIC_BASE_URL"].startswith(b"http://127.0.0.1:")
    assert cli_env[b"ANTHROPIC_API_KEY"].startswith(b"crr_")
    assert any(k.startswith("file ") for k in seen), "the config dir was inspected"
    if HAVE_SANDBOX:
        assert (ws / "env.txt").read_text().count("ANTHROPIC_API_KEY=crr_") == 1
    seen.update({f"workspace {k}": v for k, v in files_under(ws).items()})
    seen["events"] = repr(evs).encode()
    assert find(REAL_KEY, seen) == []
    # the model API did get the real key, through the relay only
    reqs = fake_api.requests_for("leak")
    assert reqs and all(r.headers["x-api-key"] == REAL_KEY for r in reqs)


async def test_a_budget_stops_the_run_mid_way(
    store: SQLiteEventStore, executor: Executor, fake_api: FakeAnthropicAPI
) -> None:
    expensive = Turn(
        [ToolUse("Read", {"file_path": "a.txt"})], input_tokens=120, output_tokens=1000
    )
    marker = fake_api.script("spend", [expensive, expensive, expensive, Text("never")])
    budget = 0.01  # the first call costs 0.01536 (sonnet-4-5: 120 x $3 + 1000 x $15 per M)
    await executor.execute(run_ctx("bd", f"go {marker}", tools=("Read",), budget_usd=budget))
    evs = await events_of(store, "bd")
    term = evs[-1]
    assert isinstance(term, RunFailed) and term.reason == "budget_exceeded", term
    assert "Run budget exhausted" in term.message
    reqs = fake_api.requests_for("spend")
    assert len(reqs) == 1, "the call after the limit never reached the model"
    # overshoot bounded by one call: its output was capped to what the budget could still buy
    assert reqs[0].body and reqs[0].body["max_tokens"] == 666
    [m] = [e for e in evs if isinstance(e, ModelCallMetered)]
    assert m.max_tokens_capped == 666 and m.cost_usd == pytest.approx(0.01536)
    refused = [e for e in evs if isinstance(e, ModelCallRefused)]
    assert refused and refused[0].reason == "budget_run"


async def test_the_daily_budget_stops_runs_live(
    store: SQLiteEventStore, executor: Executor, relay: Relay, fake_api: FakeAnthropicAPI
) -> None:
    await store.append("settings", [SettingsChanged(changes={"daily_budget_usd": 0.001})])
    with anyio.fail_after(10):
        while relay.ledger.limits.daily_usd != 0.001:
            await anyio.sleep(0.02)
    step = Turn([ToolUse("Read", {"file_path": "a.txt"})], input_tokens=100, output_tokens=60)
    marker = fake_api.script("daily", [step, step, Text("never")])
    await executor.execute(run_ctx("dd", f"go {marker}", tools=("Read",)))
    term = (await events_of(store, "dd"))[-1]
    assert isinstance(term, RunFailed) and term.reason == "budget_exceeded", term
    assert "Daily budget" in term.message
    assert len(fake_api.requests_for("daily")) == 1
    # the next run of the day is refused at its first call
    m2 = fake_api.script("daily2", [Text("never")])
    await executor.execute(run_ctx("dd2", f"go {m2}", job_id="job2"))
    term2 = (await events_of(store, "dd2"))[-1]
    assert isinstance(term2, RunFailed) and term2.reason == "budget_exceeded"
    assert fake_api.requests_for("daily2") == []


async def test_a_killed_runs_token_is_refused(
    store: SQLiteEventStore, executor: Executor, relay: Relay, fake_api: FakeAnthropicAPI
) -> None:
    marker = fake_api.script("kill", [Turn([Text("z" * 400, chunk=4)], delay=0.05)])
    token: list[bytes] = []

    async def kill_it() -> None:
        with anyio.fail_after(60):
            while "kl" not in executor.active_pids:
                await anyio.sleep(0.01)
            pid = executor.active_pids["kl"]
            while not fake_api.requests_for("kill"):
                await anyio.sleep(0.01)
        env = dict(kv.split(b"=", 1) for kv in environ_of(pid).split(b"\0") if b"=" in kv)
        token.append(env[b"ANTHROPIC_API_KEY"])
        os.kill(pid, signal.SIGKILL)

    async with anyio.create_task_group() as tg:
        tg.start_soon(kill_it)
        await executor.execute(run_ctx("kl", f"go {marker}"))
    term = (await events_of(store, "kl"))[-1]
    assert isinstance(term, RunFailed) and term.reason == "cli_crashed", term
    # an orphan (or anyone) holding the dead run's token cannot spend
    async with httpx2.AsyncClient(timeout=30) as c:
        r = await c.post(
            f"http://127.0.0.1:{relay.port}/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []},
            headers={"x-api-key": token[0].decode()},
        )
    assert r.status_code == 402 and r.headers["x-should-retry"] == "false"
    assert r.json()["error"]["type"] == "billing_error"
    assert len(fake_api.requests_for("kill")) == 1


def _normalised(evs: list[Any]) -> list[Any]:
    out: list[Any] = []
    for e in evs:
        if isinstance(e, RunOutput):
            out.append(("out", e.kind, e.text, e.tool_name, json.dumps(e.data, sort_keys=True)))
        elif isinstance(e, RunUsage):
            out.append(("usage", e.model, e.usage))
        elif isinstance(e, RunSucceeded):
            r = e.result
            out.append(("ok", e.result_text, r.usage, r.cost_usd, r.num_turns, r.model))
    return out


async def test_the_cli_behaves_the_same_through_the_relay(
    store: SQLiteEventStore,
    executor: Executor,
    settings: ExecutorSettings,
    fake_api: FakeAnthropicAPI,
) -> None:
    def script(name: str) -> str:
        return fake_api.script(
            name,
            [
                Turn(
                    [ToolUse("Read", {"file_path": "nothing.txt"})],
                    input_tokens=240,
                    output_tokens=14,
                    cache_read_input_tokens=60,
                    cache_creation_input_tokens=20,
                ),
                Turn(
                    [Text("line one\nline two " * 30, chunk=7)], input_tokens=300, output_tokens=80
                ),
            ],
        )

    await Executor(store, settings).execute(run_ctx("direct", f"go {script('d')}", tools=("Read",)))
    await executor.execute(run_ctx("relayed", f"go {script('r')}", tools=("Read",)))
    direct = _normalised(await events_of(store, "direct"))
    relayed = _normalised(await events_of(store, "relayed"))
    assert direct == relayed and len(direct) >= 4
    # and the relay's count agrees with the CLI's own
    evs = await events_of(store, "relayed")
    cost = sum(e.cost_usd or 0 for e in evs if isinstance(e, ModelCallMetered))
    assert cost == pytest.approx(relayed[-1][3], abs=1e-9)


async def test_sse_bytes_pass_unchanged(relay: Relay, fake_api: FakeAnthropicAPI) -> None:
    marker = fake_api.script("bytes", [Turn([Text("é ünïcode 😀 " * 50, chunk=3)])] * 2)
    grant = relay.open("by", "job1", None, 60)
    assert grant is not None
    payload = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": marker}],
    }
    async with httpx2.AsyncClient(timeout=30) as c:
        direct = await c.post(
            f"{fake_api.base_url}/v1/messages",
            json=payload,
            headers={"x-api-key": REAL_KEY, "x-claude-code-session-id": "s1"},
        )
        via = await c.post(
            f"http://127.0.0.1:{relay.port}/v1/messages",
            json=payload,
            headers={"x-api-key": grant.token, "x-claude-code-session-id": "s1"},
        )
    import re

    def norm(b: bytes) -> bytes:
        return re.sub(rb"msg_fake_\d+", b"msg_X", b)

    assert direct.status_code == via.status_code == 200
    assert norm(direct.content) == norm(via.content)
    assert via.headers["content-type"] == direct.headers["content-type"]
    assert len(via.content) > 5000
