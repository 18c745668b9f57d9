"""``runner servers ...``, ``runner credentials ...`` and ``runner secrets rotate-key``.

Credential values are never taken as command-line arguments (every local user can read those
in ``ps``): ``credentials set`` reads the value from stdin, or prompts without echo.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from runner.app import Runner
from runner.commands.credentials import reseal_all, sealed_key_ids
from runner.errors import InvalidInput
from runner.secrets import KEY_ENV, SecretBox, retire_old_keys, rotate_key_file

__all__ = ["add_server_commands"]


def _print(data: Any) -> None:
    print(json.dumps(msgspec.to_builtins(data), indent=2, ensure_ascii=False, default=str))


def _sensitivity(pairs: list[str] | None) -> dict[str, bool] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, flag = pair.partition("=")
        if not sep or flag.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise InvalidInput(f"--sensitive takes VAR=true|false, got {pair!r}", field="sensitive")
        out[name] = flag.lower() in ("true", "yes", "1")
    return out


def _read_code(path: str) -> str:
    p = Path(path)
    try:
        if p.stat().st_size > 2 * 1024 * 1024:
            raise InvalidInput(f"{path} is larger than the 1 MiB code limit", field="file")
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="file") from None


def _server_fields(a: argparse.Namespace, *, create: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if create:
        data["name"] = a.name
    if a.file:
        data["code"] = _read_code(a.file)
    config: dict[str, Any] | None = None
    if getattr(a, "server_command", None):
        config = {"command": a.server_command, "args": list(a.arg or [])}
        env = dict(p.split("=", 1) for p in (a.env or []) if "=" in p)
        if env:
            config["env"] = env
    elif getattr(a, "url", None):
        headers = dict(h.split(":", 1) for h in (a.header or []) if ":" in h)
        config = {"url": a.url, "headers": {k.strip(): v.strip() for k, v in headers.items()}}
        if a.transport:
            config["type"] = a.transport
    if config is not None:
        data["config"] = config
    if a.description is not None:
        data["description"] = a.description
    if a.env_json:
        data["env"] = json.loads(Path(a.env_json).read_text(encoding="utf-8"))
    sens = _sensitivity(a.sensitive)
    if sens:
        data["sensitivity"] = sens
    return data


async def _list(r: Runner, a: argparse.Namespace) -> int:
    rows = await r.servers.describe_all()
    _print(
        [
            {k: s[k] for k in ("name", "kind", "enabled", "status", "missing_credentials")}
            | {"tools": [t["name"] for t in s["tools"]]}
            for s in rows
        ]
    )
    return 0


async def _show(r: Runner, a: argparse.Namespace) -> int:
    _print(await r.servers.describe(a.name, code=a.code))
    return 0


async def _create(r: Runner, a: argparse.Namespace) -> int:
    await r.servers.create(_server_fields(a, create=True), actor="cli", discover=not a.no_discover)
    _print(await r.servers.describe(a.name))
    return 0


async def _update(r: Runner, a: argparse.Namespace) -> int:
    fields = _server_fields(a, create=False)
    await r.servers.update(a.name, fields, actor="cli", discover=not a.no_discover)
    _print(await r.servers.describe(a.name))
    return 0


async def _import_json(r: Runner, a: argparse.Namespace) -> int:
    out = await r.servers.import_mcp_json(Path(a.path), actor="cli")
    _print(out)
    return 0 if out["created"] or not out["errors"] else 1


async def _import_plugin(r: Runner, a: argparse.Namespace) -> int:
    out = await r.servers.import_plugin(Path(a.folder), prefix=a.prefix or "", actor="cli")
    _print(out)
    return 0 if out["created"] or not out["errors"] else 1


async def _enable(r: Runner, a: argparse.Namespace) -> int:
    await r.servers.enable(a.name, actor="cli")
    _print(await r.servers.describe(a.name))
    return 0


async def _disable(r: Runner, a: argparse.Namespace) -> int:
    await r.servers.disable(a.name, actor="cli")
    _print(await r.servers.describe(a.name))
    return 0


async def _delete(r: Runner, a: argparse.Namespace) -> int:
    await r.servers.delete(a.name, actor="cli", cascade=a.cascade)
    _print({"deleted": a.name})
    return 0


async def _discover(r: Runner, a: argparse.Namespace) -> int:
    await r.servers.discover(a.name)
    desc = await r.servers.describe(a.name)
    _print(desc)
    return 0 if desc["status"] != "fails_to_start" else 1


async def _invoke(r: Runner, a: argparse.Namespace) -> int:
    from runner.servers.names import parse_tool_id

    try:
        server, tool = parse_tool_id(a.tool)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="tool") from None
    try:
        args = json.loads(a.arguments) if a.arguments else {}
    except ValueError as exc:
        raise InvalidInput(f"--arguments is not JSON: {exc}", field="arguments") from None
    out = await r.servers.invoke(server, tool, args, actor="cli", time_limit=a.timeout)
    _print(out)
    return 0 if out["ok"] else 1


def _read_value(a: argparse.Namespace) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"value of {a.server}/{a.variable} (not shown): ")
    return sys.stdin.read().rstrip("\r\n")


async def _cred_set(r: Runner, a: argparse.Namespace) -> int:
    sensitive = None if a.sensitive is None else a.sensitive == "true"
    info = await r.servers.set_credential(
        a.server, a.variable, _read_value(a), sensitive=sensitive, actor="cli"
    )
    _print(info)
    return 0


async def _cred_delete(r: Runner, a: argparse.Namespace) -> int:
    await r.servers.delete_credential(a.server, a.variable, actor="cli")
    _print({"server": a.server, "deleted": a.variable})
    return 0


async def _cred_list(r: Runner, a: argparse.Namespace) -> int:
    _print(await r.credentials.show(a.server))
    return 0


async def _rotate(r: Runner, a: argparse.Namespace) -> int:
    """New key first in the key file (old ones kept as retired), reseal everything under it."""
    data_dir = r.config.data_dir
    env_key = bool(r.config.secret_key)
    before = r.secret_box()
    if env_key:
        # The key lives in the environment: the operator already put the new key in
        # RUNNER_SECRET_KEY and the old one in RUNNER_SECRET_OLD_KEYS; reseal under it.
        box = before
        old_id = ",".join(before.keyring.old_ids) or before.key_id
    else:
        box = SecretBox(rotate_key_file(data_dir))
        old_id = before.key_id
    r.credentials.box = box
    count = await reseal_all(r.store, r.queries, box, old_key_id=old_id, actor="cli")
    retired: list[str] = []
    if a.retire_old and not env_key:
        still = await sealed_key_ids(r.queries) - {box.key_id}
        if still:
            raise InvalidInput(f"values are still sealed under {sorted(still)}; not retiring")
        retired = list(box.keyring.old_ids)
        retire_old_keys(data_dir)
    _print(
        {
            "old_key_id": old_id,
            "new_key_id": box.key_id,
            "resealed": count,
            "retired_keys": retired,
            "note": "restart `runner serve` so every component uses the new key"
            + ("" if not env_key else f"; {KEY_ENV} already holds it"),
        }
    )
    return 0


def add_server_commands(sub: Any) -> None:
    """Register ``servers``, ``credentials`` and ``secrets`` on the ``runner`` parser."""
    servers = sub.add_parser("servers", help="MCP tool servers: list, create, import, enable")
    ssub = servers.add_subparsers(dest="servers_command", required=True, metavar="ACTION")
    p = ssub.add_parser("list", help="every server with its status")
    p.set_defaults(handler=_list)
    p = ssub.add_parser("show", help="one server: status, tools, masked credentials")
    p.add_argument("name")
    p.add_argument("--code", action="store_true", help="include the code")
    p.set_defaults(handler=_show)
    for action, create in (("create", True), ("update", False)):
        p = ssub.add_parser(
            action,
            help=f"{action} a Python server (--file) or an external one (--command / --url)",
        )
        p.add_argument("name")
        src = p.add_mutually_exclusive_group(required=create)
        src.add_argument("--file", help="Python source of a stdio MCP server")
        src.add_argument("--command", dest="server_command", help="external stdio command")
        src.add_argument("--url", help="external streamable HTTP (or SSE) server URL")
        p.add_argument("--arg", action="append", help="argument of --command (repeatable)")
        p.add_argument("--env", action="append", help="VAR=${VAR} for --command (repeatable)")
        p.add_argument("--header", action="append", help="'Name: value' for --url (repeatable)")
        p.add_argument("--transport", choices=["http", "sse"], help="for --url (default http)")
        p.add_argument("--description")
        p.add_argument("--env-json", help="file with [{name, description, required, sensitive}]")
        p.add_argument("--sensitive", action="append", help="VAR=true|false (repeatable)")
        p.add_argument("--no-discover", action="store_true", help="do not start it now")
        p.set_defaults(handler=_create if create else _update)
    p = ssub.add_parser("import-mcp-json", help="register the servers of a .mcp.json file")
    p.add_argument("path")
    p.set_defaults(handler=_import_json)
    p = ssub.add_parser("import-plugin", help="register the servers of a Claude Code plugin")
    p.add_argument("folder")
    p.add_argument("--prefix", help="prefix for the imported names")
    p.set_defaults(handler=_import_plugin)
    for action, handler, text in (
        ("enable", _enable, "let jobs use a server"),
        ("disable", _disable, "stop giving a server to runs (survives restarts)"),
        ("delete", _delete, "delete a server, its files and credentials"),
        ("discover", _discover, "start a server now and list its tools"),
    ):
        p = ssub.add_parser(action, help=text)
        p.add_argument("name")
        p.set_defaults(handler=handler)
        if action == "delete":
            p.add_argument(
                "--cascade",
                action="store_true",
                help="also remove the server and its tools from the jobs and webhooks using it "
                "(without it, deleting a server in use is refused with their names)",
            )
    p = ssub.add_parser("invoke", help="call one tool once: mcp__<server>__<tool>")
    p.add_argument("tool")
    p.add_argument("--arguments", help="JSON object of arguments")
    p.add_argument("--timeout", type=float, help="seconds (default 60)")
    p.set_defaults(handler=_invoke)

    creds = sub.add_parser("credentials", help="set or delete a server's credentials")
    csub = creds.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    p = csub.add_parser("set", help="set a credential (value from stdin or a hidden prompt)")
    p.add_argument("server")
    p.add_argument("variable")
    p.add_argument(
        "--sensitive",
        choices=["true", "false"],
        help="true marks the value secret; a variable the server declares sensitive stays "
        "sensitive (false is refused). Sensitive values are never shown again; values the "
        "server declares non-sensitive are shown by 'credentials list'",
    )
    p.set_defaults(handler=_cred_set)
    p = csub.add_parser("delete", help="delete a stored credential")
    p.add_argument("server")
    p.add_argument("variable")
    p.set_defaults(handler=_cred_delete)
    p = csub.add_parser(
        "list", help="a server's variables (sensitive values masked; declared non-sensitive shown)"
    )
    p.add_argument("server")
    p.set_defaults(handler=_cred_list)

    secrets = sub.add_parser("secrets", help="the encryption key of stored secrets")
    xsub = secrets.add_subparsers(dest="secrets_command", required=True, metavar="ACTION")
    p = xsub.add_parser(
        "rotate-key", help="new key; re-encrypt every credential and webhook secret under it"
    )
    p.add_argument(
        "--retire-old", action="store_true", help="then drop the old keys from the key file"
    )
    p.set_defaults(handler=_rotate)
