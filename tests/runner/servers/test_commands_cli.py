"""``runner servers|credentials|secrets`` as a user drives them, key rotation included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from runner.secrets import SecretBox, load_keyring
from tests.helpers import open_runner

RUNNER = [sys.executable, "-m", "runner.cli"]
SECRET = "cli-secret-value-ABCDEFGH-9876"
HOOK = "whsec-not-used"

CODE = '''
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("echo")

@mcp.tool()
def check() -> dict:
    """Whether the key is what we expect."""
    return {"length": len(os.environ.get("ECHO_API_KEY") or "")}

mcp.run("stdio")
'''


def cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNER_")}
    env["RUNNER_DATA_DIR"] = str(data)
    return subprocess.run(
        [*RUNNER, *args], capture_output=True, text=True, env=env, timeout=120, input=stdin
    )


def test_server_cli_journey_and_key_rotation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    src = tmp_path / "echo.py"
    src.write_text(CODE)
    made = cli(data, "servers", "create", "echo", "--file", str(src))
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)
    assert shown["status"] == "needs_credentials" and shown["tools"][0]["name"] == "check"

    bad = tmp_path / "bad.py"
    bad.write_text("x = (\n")
    out = cli(data, "servers", "create", "bad", "--file", str(bad))
    assert out.returncode == 1 and "line 1" in out.stderr
    assert not (data / "servers" / "bad").exists()
    assert "already exists" in cli(data, "servers", "create", "echo", "--file", str(src)).stderr

    out = cli(data, "credentials", "set", "echo", "ECHO_API_KEY", stdin=SECRET + "\n")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["masked"] == "****" + SECRET[-4:]
    out = cli(data, "servers", "invoke", "mcp__echo__check")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["structured"] == {"length": len(SECRET)}
    assert cli(data, "servers", "disable", "echo").returncode == 0
    listing = json.loads(cli(data, "servers", "list").stdout)
    assert {s["name"]: s["status"] for s in listing}["echo"] == "disabled"

    before = load_keyring(data).current_id
    out = cli(data, "secrets", "rotate-key", "--retire-old")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["resealed"] == 1 and report["old_key_id"] == before
    ring = load_keyring(data)
    assert ring.current_id == report["new_key_id"] != before and ring.old_ids == ()

    async def check() -> None:
        async with open_runner(data) as r:
            assert await r.credentials.values("echo") == {"ECHO_API_KEY": SECRET}
            (cred,) = await r.queries.credentials("echo")
            assert cred.secret.key_id == ring.current_id
            assert isinstance(r.credentials.box, SecretBox)
            rows = await r.store.query("SELECT type, data FROM events")
            assert any(t == "SecretKeyRotated" for t, _ in rows)
            assert all(SECRET not in str(d) for _, d in rows)

    anyio.run(check)
    assert cli(data, "credentials", "delete", "echo", "ECHO_API_KEY").returncode == 0
    assert cli(data, "servers", "delete", "echo").returncode == 0
    assert not (data / "servers" / "echo").exists()
    assert cli(data, "servers", "delete", "email").returncode == 1


@pytest.mark.parametrize("flag", ["--url", "--command"])
def test_external_server_from_cli(tmp_path: Path, flag: str) -> None:
    data = tmp_path / "data"
    target = "http://127.0.0.1:9/mcp" if flag == "--url" else "no-such-binary-xyz"
    extra = ["--header", "Authorization: Bearer ${API_TOKEN}"] if flag == "--url" else []
    out = cli(data, "servers", "create", "ext", flag, target, *extra, "--no-discover")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["kind"] == "external"
    if flag == "--url":
        assert shown["missing_credentials"] == ["API_TOKEN"]
