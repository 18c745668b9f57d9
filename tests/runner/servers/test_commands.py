"""Server and credential commands: validation, events, files, masking, discovery, invocation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events.servers import CredentialSet, ServerCreated, ToolInvoked
from runner.app import Runner
from runner.errors import Conflict, InvalidInput, NotFound
from runner.servers.materialize import code_path
from tests.helpers import open_runner

pytestmark = pytest.mark.anyio

SECRET = "fb-page-token-SECRET-0123456789"

POSTER = '''
import os
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("poster")

@mcp.tool()
def post(message: str) -> str:
    """Post a message to the page."""
    token = os.environ.get("FB_PAGE_TOKEN", "")
    return f"posted {len(message)} chars; token ends {token[-4:]}; leak {token}"

mcp.run("stdio")
'''


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[Runner]:
    async with open_runner(tmp_path / "data") as r:
        yield r


async def rows(r: Runner) -> str:
    got = await r.store.query("SELECT data || coalesce(meta, '') FROM events")
    views = await r.store.query("SELECT doc FROM v_credentials")
    return "\n".join(str(x[0]) for x in [*got, *views])


async def test_create_detects_env_writes_file_and_seals_credentials(runner: Runner) -> None:
    srv = await runner.servers.create(
        {"name": "poster", "code": POSTER, "description": "FB"}, discover=False
    )
    assert srv.kind == "dynamic" and srv.enabled
    assert [(e.name, e.required, e.sensitive) for e in srv.env] == [("FB_PAGE_TOKEN", False, True)]
    assert code_path(runner.config.data_dir, "poster").read_text() == POSTER
    info = await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", SECRET)
    assert info.configured and info.masked == "****" + SECRET[-4:]
    assert SECRET not in await rows(runner)
    (ev,) = [
        r.event
        for r in await runner.store.read_stream("server-poster")
        if isinstance(r.event, CredentialSet)
    ]
    assert ev.secret.hint == SECRET[-4:] and SECRET not in ev.secret.ciphertext
    assert await runner.credentials.values("poster") == {"FB_PAGE_TOKEN": SECRET}
    shown = await runner.servers.describe("poster")
    assert SECRET not in json.dumps(shown)
    assert shown["credentials"][0]["masked"] == "****" + SECRET[-4:]


async def test_bad_input_is_refused_and_leaves_nothing(runner: Runner) -> None:
    data_dir = runner.config.data_dir
    head = await runner.store.head()
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.create({"name": "broken", "code": "def f(:\n  pass\n"})
    assert bad.value.field == "code" and "line 1" in bad.value.message
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.create({"name": "Bad Name!", "code": POSTER})
    assert bad.value.field == "name"
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.create({"name": "email", "code": POSTER})
    assert "reserved" in bad.value.message
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.create({"name": "huge", "code": "x = 1\n" * 200_000})
    assert "1 MiB" in bad.value.message
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.create(
            {"name": "poster", "code": POSTER, "sensitivity": {"NOPE": False}}
        )
    assert "NOPE" in bad.value.message
    with pytest.raises(InvalidInput):
        await runner.servers.create({"name": "x1", "code": POSTER, "env": "{not json"})
    with pytest.raises(InvalidInput):
        await runner.servers.create({"name": "x2", "code": POSTER, "colour": "red"})
    assert await runner.store.head() == head
    assert not (data_dir / "servers").exists() or not any((data_dir / "servers").iterdir())

    await runner.servers.create({"name": "poster", "code": POSTER}, discover=False)
    with pytest.raises(Conflict):
        await runner.servers.create({"name": "poster", "code": POSTER}, discover=False)
    with pytest.raises(NotFound):
        await runner.servers.update("nope", {"code": POSTER})
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.update("poster", {"code": "import (\n"}, discover=False)
    assert code_path(data_dir, "poster").read_text() == POSTER
    with pytest.raises(InvalidInput) as bad:
        await runner.servers.set_credential("poster", "OTHER_KEY", "v")
    assert bad.value.field == "variable" and "FB_PAGE_TOKEN" in bad.value.message
    with pytest.raises(InvalidInput):
        await runner.servers.set_credential("poster", "PATH", "/evil")
    with pytest.raises(NotFound):
        await runner.servers.set_credential("ghost", "X", "v")
    with pytest.raises(NotFound):
        await runner.servers.delete_credential("poster", "FB_PAGE_TOKEN")


async def test_update_redetects_keeps_overrides_delete_and_recreate(runner: Runner) -> None:
    await runner.servers.create(
        {"name": "poster", "code": POSTER, "sensitivity": {"FB_PAGE_TOKEN": False}},
        discover=False,
    )
    more = POSTER.replace('mcp.run("stdio")', 'X = os.environ["PAGE_ID"]\nmcp.run("stdio")')
    srv = await runner.servers.update("poster", {"code": more}, discover=False)
    assert [(e.name, e.required, e.sensitive) for e in srv.env] == [
        ("FB_PAGE_TOKEN", False, False),
        ("PAGE_ID", True, False),
    ]
    assert code_path(runner.config.data_dir, "poster").read_text() == more
    await runner.servers.set_credential("poster", "PAGE_ID", "1234567")
    assert (await runner.credentials.show("poster"))[1].masked == "1234567"
    await runner.servers.delete("poster")
    assert not code_path(runner.config.data_dir, "poster").parent.exists()
    assert "poster" not in await runner.queries.known_servers()
    srv = await runner.servers.create({"name": "poster", "code": POSTER}, discover=False)
    assert await runner.queries.credentials("poster") == []
    assert srv.env[0].sensitive


async def test_builtins_seed_once_and_disable_sticks(runner: Runner) -> None:
    assert sorted(await runner.servers.seed_builtins()) == ["email", "http_fetch", "memory"]
    await runner.servers.disable("email")
    assert await runner.servers.seed_builtins() == []
    assert (await runner.queries.server("email")).enabled is False
    with pytest.raises(InvalidInput):
        await runner.servers.delete("email")
    with pytest.raises(InvalidInput):
        await runner.servers.update("email", {"description": "x"})
    info = await runner.servers.set_credential("email", "SMTP_PASSWORD", "short")
    assert info.masked == "****" and info.sensitive
    desc = await runner.servers.describe("email")
    assert desc["status"] == "disabled"
    await runner.servers.enable("email")
    assert sorted((await runner.servers.describe("email"))["missing_credentials"]) == [
        "SMTP_FROM",
        "SMTP_HOST",
    ]


async def test_external_import_lifts_literal_secrets(runner: Runner, tmp_path: Path) -> None:
    mcp_json = {
        "mcpServers": {
            "remote-api": {
                "type": "http",
                "url": "http://127.0.0.1:9/mcp",
                "headers": {"Authorization": f"Bearer {SECRET}"},
            },
            "Local Tool": {"command": "definitely-not-a-command", "env": {"API_KEY": SECRET}},
            "bad": {"type": "carrier-pigeon"},
        }
    }
    path = tmp_path / ".mcp.json"
    path.write_text(json.dumps(mcp_json))
    runner.servers.discovery_timeout = 5
    out = await runner.servers.import_mcp_json(path)
    assert sorted(out["created"]) == ["local-tool", "remote-api"]
    assert len(out["errors"]) == 1 and "bad" in out["errors"][0]
    assert SECRET not in await rows(runner)
    assert (await runner.credentials.values("local-tool")) == {"API_KEY": SECRET}
    local = await runner.servers.describe("local-tool")
    assert local["status"] == "fails_to_start" and "definitely-not-a-command" in (
        local["start_error"] or ""
    )
    again = await runner.servers.import_mcp_json(path)
    assert again["created"] == [] and any("already exists" in e for e in again["errors"])
    srv = await runner.servers.create(
        {"name": "by-url", "config": {"url": "http://127.0.0.1:9/${TOKEN}"}}, discover=False
    )
    assert srv.kind == "external" and [e.name for e in srv.env] == ["TOKEN"]
    assert (await runner.servers.describe("by-url"))["status"] == "needs_credentials"
    with pytest.raises(InvalidInput):
        await runner.servers.create({"name": "nothing", "config": {"args": []}})


async def test_discovery_invoke_and_failures(runner: Runner) -> None:
    srv = await runner.servers.create({"name": "poster", "code": POSTER})
    assert [t.name for t in srv.tools] == ["post"] and srv.start_error is None
    await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", SECRET)
    out = await runner.servers.invoke("poster", "post", {"message": "hello"})
    assert out["ok"] and "token ends " + SECRET[-4:] in out["text"]
    assert SECRET not in json.dumps(out)
    assert SECRET not in await rows(runner)
    inv = [
        r.event
        for r in await runner.store.read_stream("server-poster")
        if isinstance(r.event, ToolInvoked)
    ]
    assert inv and inv[0].ok and inv[0].tool == "post"
    assert (await runner.queries.server("poster")).invocations == 1
    (recent,) = (await runner.servers.describe("poster"))["recent_invocations"]
    assert recent["tool"] == "post" and recent["ok"] and SECRET not in recent["summary"]
    with pytest.raises(InvalidInput):
        await runner.servers.invoke("poster", "nope", {})

    crash = await runner.servers.create(
        {
            "name": "crasher",
            "code": "import sys\nprint('boom at start', file=sys.stderr)\nraise SystemExit(3)\n",
        }
    )
    assert crash.start_error and "boom at start" in crash.start_error
    assert (await runner.servers.describe("crasher"))["status"] == "fails_to_start"
    await runner.servers.disable("poster")
    with pytest.raises(InvalidInput):
        await runner.servers.invoke("poster", "post", {"message": "x"})


async def test_created_events_never_hold_secrets(runner: Runner) -> None:
    await runner.servers.create(
        {
            "name": "ext",
            "config": {"command": "true", "env": {"SERVICE_TOKEN": SECRET}},
        },
        discover=False,
    )
    (created, cred) = [r.event for r in await runner.store.read_stream("server-ext")]
    assert isinstance(created, ServerCreated) and created.config is not None
    assert created.config["env"] == {"SERVICE_TOKEN": "${SERVICE_TOKEN}"}
    assert isinstance(cred, CredentialSet)
    with pytest.raises(InvalidInput):
        await runner.servers.update("ext", {"config": {"command": "true", "env": {"A_KEY": "x"}}})


async def test_key_rotated_elsewhere_is_used_for_new_and_old_values(runner: Runner) -> None:
    from runner.commands.credentials import reseal_all, sealed_key_ids
    from runner.secrets import SecretBox, retire_old_keys, rotate_key_file

    await runner.servers.create({"name": "poster", "code": POSTER}, discover=False)
    await runner.servers.set_credential("poster", "FB_PAGE_TOKEN", SECRET)
    old_id = runner.credentials.box.key_id
    # another process rotates the key and reseals everything, then retires the old key
    ring = rotate_key_file(runner.config.data_dir)
    assert await reseal_all(runner.store, runner.queries, SecretBox(ring), old_key_id=old_id) == 1
    assert await sealed_key_ids(runner.queries) == {ring.current_id}
    retire_old_keys(runner.config.data_dir)
    # this process still holds the old keyring: it reloads to open and to seal
    assert await runner.credentials.values("poster") == {"FB_PAGE_TOKEN": SECRET}
    await runner.servers.create({"name": "other", "code": POSTER}, discover=False)
    await runner.servers.set_credential("other", "FB_PAGE_TOKEN", SECRET + "2")
    assert await sealed_key_ids(runner.queries) == {ring.current_id}
    rotated = [r for r in await runner.store.read_stream("secrets")]
    assert rotated[0].type == "SecretKeyRotated"


async def test_disabled_builtin_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "restart"
    async with open_runner(data) as r:
        await r.servers.seed_builtins()
        await r.servers.disable("http_fetch")
    async with open_runner(data) as r:
        assert await r.servers.seed_builtins() == []
        assert (await r.queries.server("http_fetch")).enabled is False
        assert (await r.queries.server("memory")).enabled is True


async def test_plugin_folder_import(runner: Runner, tmp_path: Path) -> None:
    plugin = tmp_path / "my-plugin"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text(
        json.dumps({"name": "my-plugin", "description": "A plugin with a server"})
    )
    (plugin / ".mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "tracker": {
                        "command": "${CLAUDE_PLUGIN_ROOT}/bin/tracker",
                        "env": {"TRACKER_TOKEN": "${TRACKER_TOKEN}"},
                    }
                }
            }
        )
    )
    runner.servers.discovery_timeout = 5
    out = await runner.servers.import_plugin(plugin, prefix="plug-")
    assert out == {"created": ["plug-tracker"], "errors": []}
    srv = await runner.queries.server("plug-tracker")
    assert srv.config is not None and srv.config["command"] == f"{plugin}/bin/tracker"
    assert (await runner.servers.describe("plug-tracker"))["missing_credentials"] == [
        "TRACKER_TOKEN"
    ]
    with pytest.raises(InvalidInput):
        await runner.servers.import_plugin(tmp_path / "nowhere")


async def test_rotation_reseals_webhook_secrets_keeping_the_grace_period(runner: Runner) -> None:
    from runner.commands.credentials import reseal_all, sealed_key_ids
    from runner.commands.webhooks import WebhookCommands
    from runner.secrets import SecretBox, load_keyring, retire_old_keys, rotate_key_file

    hooks = WebhookCommands(runner.store, runner.queries, runner.credentials.box)
    hook, first, _ = await hooks.create({"name": "gh", "prompt_template": "triage {{payload}}"})
    _, second = await hooks.rotate_secret(hook.webhook_id, grace_seconds=3600)
    plain, _, _ = await hooks.create({"name": "plain", "prompt_template": "x"})
    before = await runner.queries.webhook(hook.webhook_id)
    old_id = runner.credentials.box.key_id
    ring = rotate_key_file(runner.config.data_dir)
    assert await reseal_all(runner.store, runner.queries, SecretBox(ring), old_key_id=old_id) == 3
    retire_old_keys(runner.config.data_dir)
    assert await sealed_key_ids(runner.queries) == {ring.current_id}
    fresh = WebhookCommands(
        runner.store, runner.queries, SecretBox(load_keyring(runner.config.data_dir))
    )
    entry = await fresh.entry(hook.webhook_id)
    assert entry is not None and entry.current == second and entry.previous == first
    assert entry.previous_valid_until == before.previous_valid_until
    other = await fresh.entry(plain.webhook_id)
    assert other is not None and other.current
