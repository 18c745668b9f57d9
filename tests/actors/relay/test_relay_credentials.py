"""Which credential the relay uses upstream, and a relay that is down fails runs closed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import httpx2
import pytest

from actors.executor import Executor
from actors.executor_options import ExecutorSettings
from actors.relay import Relay, relay_settings
from events import SQLiteEventStore
from events.runs import RunFailed
from tests.actors.relay.conftest import REAL_KEY, events_of, run_ctx, start_relay
from tests.fakes.anthropic_api import FakeAnthropicAPI, Text

pytestmark = [pytest.mark.anyio]


def login_file(d: Path, token: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    creds = {"claudeAiOauth": {"accessToken": token, "refreshToken": "sk-ant-ort01-never-used"}}
    (d / ".credentials.json").write_text(json.dumps(creds))


async def test_claude_login_is_relayed_as_oauth(
    store: SQLiteEventStore, tmp_path: Path, fake_api: FakeAnthropicAPI
) -> None:
    host = tmp_path / "host-claude"
    login_file(host, "sk-ant-oat01-FIRST")
    settings = ExecutorSettings(
        data_dir=tmp_path / "data",
        auth_env={"ANTHROPIC_BASE_URL": fake_api.base_url},
        host_claude_config_dir=host,
    )
    async with anyio.create_task_group() as tg:
        relay = await start_relay(store, tg, settings)
        assert relay.status()["credential"] == "claude_login"
        grant = relay.open("o1", None, None, 60)
        assert grant is not None
        assert set(grant.env) == {"ANTHROPIC_BASE_URL", "CLAUDE_CODE_OAUTH_TOKEN"}
        marker = fake_api.script("oauth", [Text("a"), Text("b")])
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": marker}],
        }
        headers = {
            "authorization": f"Bearer {grant.token}",
            "anthropic-beta": "claude-code-20250219",
            "x-claude-code-session-id": "s",
        }
        url = f"http://127.0.0.1:{relay.port}/v1/messages"
        async with httpx2.AsyncClient(timeout=30) as c:
            assert (await c.post(url, json=body, headers=headers)).status_code == 200
            # the host's own CLI refreshed the login: the relay follows the file
            login_file(host, "sk-ant-oat01-SECOND")
            os.utime(host / ".credentials.json", (1, 2_000_000_000))
            assert (await c.post(url, json=body, headers=headers)).status_code == 200
        first, second = fake_api.requests_for("oauth")
        assert first.headers["authorization"] == "Bearer sk-ant-oat01-FIRST"
        assert second.headers["authorization"] == "Bearer sk-ant-oat01-SECOND"
        assert "x-api-key" not in first.headers
        assert first.headers["anthropic-beta"] == "claude-code-20250219,oauth-2025-04-20"
        tg.cancel_scope.cancel()


async def test_a_relayed_run_gets_no_login_copy(
    store: SQLiteEventStore, tmp_path: Path, fake_api: FakeAnthropicAPI
) -> None:
    host = tmp_path / "host-claude"
    login_file(host, "sk-ant-oat01-LOGIN-SECRET")
    settings = ExecutorSettings(
        data_dir=tmp_path / "data",
        auth_env={"ANTHROPIC_BASE_URL": fake_api.base_url},
        host_claude_config_dir=host,
        max_api_retries=0,
    )
    async with anyio.create_task_group() as tg:
        relay = await start_relay(store, tg, settings)
        ex = Executor(store, settings, relay=relay)
        from actors.executor_options import run_dirs

        s, _ = ex._run_settings(run_ctx("lg", "x"))
        dirs = run_dirs(s, "lg", "job1")
        assert not (dirs.config / ".credentials.json").exists()
        assert s.auth_env["CLAUDE_CODE_OAUTH_TOKEN"].startswith("crr_")
        assert "sk-ant-oat01-LOGIN-SECRET" not in json.dumps(s.auth_env)
        tg.cancel_scope.cancel()


async def test_a_relay_that_is_down_fails_the_run_closed(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI
) -> None:
    relay = Relay(store, relay_settings(settings.auth_env, None))  # never started
    ex = Executor(store, settings, relay=relay)
    marker = fake_api.script("down", [Text("never")])
    await ex.execute(run_ctx("rd", f"go {marker}"))
    term = (await events_of(store, "rd"))[-1]
    assert isinstance(term, RunFailed) and term.retryable, term
    assert "relay is not running" in term.message
    assert fake_api.requests_for("down") == []
    assert REAL_KEY not in repr(await events_of(store, "rd"))


async def test_the_relay_also_listens_on_a_unix_socket(
    store: SQLiteEventStore, settings: ExecutorSettings, fake_api: FakeAnthropicAPI, tmp_path: Path
) -> None:
    sock = tmp_path / "relay.sock"
    async with anyio.create_task_group() as tg:
        relay = await start_relay(store, tg, settings, unix_path=sock)
        assert sock.stat().st_mode & 0o777 == 0o600
        grant = relay.open("ux", None, None, 60)
        assert grant is not None
        body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}
        transport = httpx2.AsyncHTTPTransport(uds=str(sock))
        async with httpx2.AsyncClient(transport=transport, timeout=30) as c:
            r = await c.post(
                "http://relay/v1/messages", json=body, headers={"x-api-key": grant.token}
            )
            assert r.status_code == 200
            r = await c.post("http://relay/v1/messages", json=body, headers={"x-api-key": "nope"})
            assert r.status_code == 401
        tg.cancel_scope.cancel()


def test_the_credential_is_blanked_in_proc_environ() -> None:
    """Another process of the same user reads /proc/<pid>/environ: after the scrub it finds
    the variable, but not the key; os.environ inside the process keeps working."""
    import subprocess
    import sys

    code = (
        "import os, sys; from actors.relay.environ import scrub_environ; "
        "print(scrub_environ(['ANTHROPIC_API_KEY']), os.environ['ANTHROPIC_API_KEY'] == sys.argv[1], "
        "flush=True); sys.stdin.read()"
    )
    env = {**os.environ, "ANTHROPIC_API_KEY": REAL_KEY, "KEEP_ME": "visible"}
    with subprocess.Popen(
        [sys.executable, "-c", code, REAL_KEY],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "['ANTHROPIC_API_KEY'] True"
        seen = Path(f"/proc/{child.pid}/environ").read_bytes()
        child.stdin.close()
    assert REAL_KEY.encode() not in seen
    assert b"ANTHROPIC_API_KEY=" in seen and b"KEEP_ME=visible" in seen
