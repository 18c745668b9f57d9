from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from events.servers import EnvVarSpec
from runner.servers.errors import InvalidServerConfig
from runner.servers.external import import_mcp_json, import_plugin, parse_config
from runner.servers.launch import (
    HttpLaunch,
    MissingCredentials,
    StdioLaunch,
    external_launch,
    missing_credentials,
    server_launch,
)
from runner.servers.sdk_config import sdk_server_config, to_sdk_config, write_mcp_config_file

MCP_JSON = {
    "mcpServers": {
        "github": {
            "type": "http",
            "url": "https://api.example.com/mcp/",
            "headers": {"Authorization": "Bearer ${GITHUB_PAT}", "X-Trace": "on"},
        },
        "files": {
            "command": "npx",
            "args": ["-y", "@acme/files", "--root", "${ROOT:-/tmp}"],
            "env": {"ACME_API_KEY": "${ACME_API_KEY}", "LOG_LEVEL": "info"},
        },
        "Leaky.Server": {
            "command": "leaky",
            "env": {"LEAKY_TOKEN": "tok-literal-1234"},
        },
        "broken": {"type": "ws", "url": "ws://x"},
        "memory": {"command": "x"},
    }
}


def test_import_mcp_json(tmp_path: Path) -> None:
    path = tmp_path / ".mcp.json"
    path.write_text(json.dumps(MCP_JSON))
    result = import_mcp_json(path)
    by_name = {s.name: s for s in result.servers}
    assert sorted(by_name) == ["files", "github", "leaky-server"]
    assert len(result.errors) == 2
    assert any("broken" in e for e in result.errors)
    assert any("reserved" in e for e in result.errors)

    github = by_name["github"]
    assert github.config == {
        "type": "http",
        "url": "https://api.example.com/mcp/",
        "headers": {"Authorization": "Bearer ${GITHUB_PAT}", "X-Trace": "on"},
    }
    assert github.env == (
        EnvVarSpec(
            name="GITHUB_PAT",
            description="Value for ${GITHUB_PAT} in the server config",
            required=True,
            sensitive=True,  # used in Authorization, whatever its name says
        ),
    )
    files = by_name["files"]
    assert files.config["type"] == "stdio"
    assert [(s.name, s.required, s.sensitive) for s in files.env] == [
        ("ACME_API_KEY", True, True),
        ("ROOT", False, False),
    ]
    # A literal secret is lifted out of the config, so no event ever carries it.
    leaky = by_name["leaky-server"]
    assert leaky.source_name == "Leaky.Server"
    assert leaky.config["env"] == {"LEAKY_TOKEN": "${LEAKY_TOKEN}"}
    assert dict(leaky.secrets) == {"LEAKY_TOKEN": "tok-literal-1234"}
    assert "tok-literal" not in repr(leaky) and "tok-literal" not in json.dumps(leaky.config)


def test_literal_authorization_header_becomes_a_credential() -> None:
    server = parse_config(
        "api", {"type": "http", "url": "https://x.test/mcp", "headers": {"Authorization": "k"}}
    )
    assert server.config["headers"] == {"Authorization": "${AUTHORIZATION}"}
    assert dict(server.secrets) == {"AUTHORIZATION": "k"}
    assert server.env[0].sensitive


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"command": ""},
        {"command": "x", "args": "not-a-list"},
        {"command": "x", "env": {"A": ["list"]}},
        {"command": "x", "env": {"BAD-NAME": "v"}},
        {"type": "http", "url": "ftp://x"},
        {"type": "sse"},
        "a string",
    ],
)
def test_bad_configs(raw: object) -> None:
    with pytest.raises(InvalidServerConfig):
        parse_config("bad", raw)


def test_plugin_folder(tmp_path: Path) -> None:
    (tmp_path / ".claude-plugin").mkdir()
    (tmp_path / ".claude-plugin" / "plugin.json").write_text(
        json.dumps({"name": "acme", "description": "Acme tools"})
    )
    (tmp_path / ".mcp.json").write_text(
        json.dumps(
            {
                "acme": {
                    "command": "${CLAUDE_PLUGIN_ROOT}/bin/server",
                    "args": ["--config", "${CLAUDE_PLUGIN_ROOT}/cfg.json"],
                    "env": {"ACME_TOKEN": "${ACME_TOKEN}"},
                }
            }
        )
    )
    result = import_plugin(tmp_path)
    assert result.errors == ()
    (server,) = result.servers
    root = str(tmp_path.resolve())
    assert server.name == "acme" and server.description == "Acme tools"
    assert server.config["command"] == f"{root}/bin/server"
    assert server.config["args"] == ["--config", f"{root}/cfg.json"]
    assert [s.name for s in server.env] == ["ACME_TOKEN"]


def test_plugin_inline_servers_and_not_a_plugin(tmp_path: Path) -> None:
    with pytest.raises(InvalidServerConfig, match="not a Claude Code plugin"):
        import_plugin(tmp_path)
    (tmp_path / ".claude-plugin").mkdir()
    (tmp_path / ".claude-plugin" / "plugin.json").write_text(
        json.dumps({"name": "p", "mcpServers": {"remote": {"type": "sse", "url": "https://x/s"}}})
    )
    (server,) = import_plugin(tmp_path, prefix="p-").servers
    assert server.name == "p-remote" and server.config["type"] == "sse"


def test_external_launch_fills_placeholders_and_sdk_config(tmp_path: Path) -> None:
    files = parse_config(
        "files",
        {"command": "npx", "args": ["--root", "${ROOT:-/tmp}"], "env": {"K_TOKEN": "${K_TOKEN}"}},
    )
    assert missing_credentials(files.env, {}) == ("K_TOKEN",)
    with pytest.raises(MissingCredentials, match="K_TOKEN"):
        external_launch("files", files.config, {}, files.env)
    launch = external_launch("files", files.config, {"K_TOKEN": "s3cret-value"}, files.env)
    assert isinstance(launch, StdioLaunch)
    assert launch.args == ("--root", "/tmp") and launch.secrets == ("s3cret-value",)
    assert "s3cret" not in repr(launch)
    assert to_sdk_config(launch) == {
        "type": "stdio",
        "command": "npx",
        "args": ["--root", "/tmp"],
        "env": {"K_TOKEN": "s3cret-value"},
    }
    remote = parse_config(
        "gh", {"type": "http", "url": "https://x/mcp", "headers": {"Authorization": "Bearer ${T}"}}
    )
    hl = external_launch("gh", remote.config, {"T": "abc123"}, remote.env)
    assert isinstance(hl, HttpLaunch) and hl.secrets == ("Bearer abc123", "abc123")
    assert to_sdk_config(hl) == {
        "type": "http",
        "url": "https://x/mcp",
        "headers": {"Authorization": "Bearer abc123"},
    }


def test_dynamic_and_builtin_sdk_configs(tmp_path: Path) -> None:
    cfg = sdk_server_config(
        "dynamic", "poster", data_dir=tmp_path, credentials={"FB_TOKEN": "t", "DATA_DIR": "/evil"}
    )
    assert cfg["command"] == sys.executable
    assert cfg["args"] == ["-I", str(tmp_path / "servers" / "poster" / "server.py")]
    assert cfg["env"]["FB_TOKEN"] == "t"
    assert cfg["env"]["DATA_DIR"] == str(tmp_path / "servers" / "poster" / "data")
    job_dir = tmp_path / "jobs" / "j1" / "memory"
    mem = server_launch("builtin", "memory", data_dir=tmp_path, credentials={}, server_data=job_dir)
    assert isinstance(mem, StdioLaunch)
    assert mem.args == ("-I", "-m", "runner.builtin_servers.memory")
    assert mem.env["DATA_DIR"] == str(job_dir) and job_dir.is_dir()


def test_mcp_config_file_is_private(tmp_path: Path) -> None:
    cfg = {"poster": {"type": "stdio", "command": "x", "env": {"T": "secret-1234"}}}
    path = write_mcp_config_file(tmp_path / "mcp.json", cfg)
    assert json.loads(path.read_text()) == {"mcpServers": cfg}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["mcp.json"]


def test_short_values_are_not_redacted() -> None:
    launch = external_launch(
        "s", {"command": "x", "env": {"PIN_CODE": "${PIN_CODE}"}}, {"PIN_CODE": "42"}
    )
    assert launch.secrets == ()


def test_credentials_cannot_set_loader_or_runner_variables(tmp_path: Path) -> None:
    creds = {"LD_PRELOAD": "/x.so", "PYTHONSTARTUP": "/y.py", "HOME": "/h", "OK_KEY": "value"}
    launch = server_launch("dynamic", "s", data_dir=tmp_path, credentials=creds)
    assert isinstance(launch, StdioLaunch)
    assert sorted(launch.env) == ["DATA_DIR", "OK_KEY"]
