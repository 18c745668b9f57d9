"""External MCP servers declared the way Claude Code's ``.mcp.json`` declares them.

``{"mcpServers": {"name": {"command": ..., "args": [...], "env": {...}},
"other": {"type": "http", "url": ..., "headers": {...}}}}``. ``${VAR}`` and ``${VAR:-default}``
placeholders are not expanded: each becomes a credential the server needs (filled in at launch,
see ``launch.external_launch``). Literal secrets found in a file (a sensitive-named env var, an
``Authorization`` header) are lifted out into :attr:`ExternalServer.secrets` and replaced by a
placeholder, so the config that goes into an event never holds a secret in clear text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from events.servers import EnvVarSpec
from runner.servers.code import INJECTED_VARS, is_sensitive
from runner.servers.errors import InvalidServerConfig, ServerError
from runner.servers.launch import PLACEHOLDER, is_sensitive_header
from runner.servers.names import suggest_name, validate_name

MAX_FILE_BYTES = 1024 * 1024
PLUGIN_ROOT_VAR = "CLAUDE_PLUGIN_ROOT"


@dataclass(frozen=True)
class ExternalServer:
    """A parsed external server: its normalised ``config`` (for ``ServerCreated.config``),
    the credentials it needs (``env``), and literal secret values lifted out of the source
    (to be stored encrypted with ``CredentialSet``, never in the event)."""

    name: str
    config: dict[str, Any]
    env: tuple[EnvVarSpec, ...] = ()
    description: str = ""
    source_name: str = ""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ImportResult:
    """Servers that parsed, and one readable error per entry that did not."""

    servers: tuple[ExternalServer, ...] = ()
    errors: tuple[str, ...] = ()


def _str_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidServerConfig(f"{what} must be an object of strings")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float) or isinstance(v, bool):
            raise InvalidServerConfig(f"{what}: {k!r} must map to a string")
        out[k] = str(v)
    return out


def _var_name(header: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Z0-9]+", "_", header.upper()).strip("_") or "HEADER"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def parse_config(name: str, raw: object, *, description: str = "") -> ExternalServer:
    """Validate one ``.mcp.json`` entry and return it normalised.

    stdio: ``{"type": "stdio", "command", "args", "env"}``; remote: ``{"type": "http" | "sse",
    "url", "headers"}``. Raises :class:`InvalidServerConfig` with the reason.
    """
    validate_name(name)
    if not isinstance(raw, Mapping):
        raise InvalidServerConfig(f"server {name!r}: config must be an object")
    kind = raw.get("type") or ("stdio" if "command" in raw else "http" if "url" in raw else None)
    secrets: dict[str, str] = {}
    sensitive_vars: set[str] = set()
    config: dict[str, Any]
    if kind == "stdio":
        command = raw.get("command")
        if not isinstance(command, str) or not command.strip():
            raise InvalidServerConfig(f"server {name!r}: 'command' must be a non-empty string")
        args = raw.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise InvalidServerConfig(f"server {name!r}: 'args' must be a list of strings")
        env = _str_map(raw.get("env"), f"server {name!r}: 'env'")
        for key, value in env.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*\Z", key):
                raise InvalidServerConfig(f"server {name!r}: invalid env var name {key!r}")
            if is_sensitive(key) and value and not PLACEHOLDER.search(value):
                secrets[key] = value
                env[key] = "${" + key + "}"
        config = {"type": "stdio", "command": command, "args": list(args), "env": env}
        if isinstance(raw.get("cwd"), str):
            config["cwd"] = raw["cwd"]
    elif kind in ("http", "sse"):
        url = raw.get("url")
        if not isinstance(url, str) or not re.match(r"^(https?://|\$\{)", url):
            raise InvalidServerConfig(f"server {name!r}: 'url' must be an http(s) URL")
        headers = _str_map(raw.get("headers"), f"server {name!r}: 'headers'")
        for key, value in headers.items():
            if not is_sensitive_header(key):
                continue
            used = {m.group(1) for m in PLACEHOLDER.finditer(value)}
            sensitive_vars |= used
            if value and not used:
                var = _var_name(key, set(secrets) | INJECTED_VARS)
                secrets[var] = value
                headers[key] = "${" + var + "}"
                sensitive_vars.add(var)
        config = {"type": kind, "url": url, "headers": headers}
    else:
        raise InvalidServerConfig(
            f"server {name!r}: needs 'command' (stdio) or 'url' with type 'http' or 'sse'"
        )
    return ExternalServer(
        name=name,
        config=config,
        env=placeholder_specs(config, sensitive_vars),
        description=description,
        source_name=name,
        secrets=secrets,
    )


def placeholder_specs(
    config: Mapping[str, Any], sensitive: set[str] | frozenset[str] = frozenset()
) -> tuple[EnvVarSpec, ...]:
    """One credential spec per ``${VAR}`` in the config, sorted; optional if it has a default."""
    found: dict[str, bool] = {}
    texts = [str(config.get("command", "")), str(config.get("url", ""))]
    texts += [str(a) for a in config.get("args", ())]
    texts += [str(v) for v in dict(config.get("env") or {}).values()]
    texts += [str(v) for v in dict(config.get("headers") or {}).values()]
    for text in texts:
        for m in PLACEHOLDER.finditer(text):
            found[m.group(1)] = found.get(m.group(1), False) or m.group(2) is None
    return tuple(
        EnvVarSpec(
            name=var,
            description=f"Value for ${{{var}}} in the server config",
            required=found[var],
            sensitive=var in sensitive or is_sensitive(var),
        )
        for var in sorted(found)
    )


def _load_json(path: Path) -> object:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidServerConfig(f"{path.name} is larger than 1 MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidServerConfig(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidServerConfig(f"{path.name} is not readable JSON: {exc}") from None


def _server_map(doc: object) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise InvalidServerConfig("the file must hold a JSON object")
    inner = doc.get("mcpServers", doc)
    if not isinstance(inner, Mapping):
        raise InvalidServerConfig("'mcpServers' must be an object")
    return inner


def _expand_root(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace("${" + PLUGIN_ROOT_VAR + "}", root)
    if isinstance(value, list):
        return [_expand_root(v, root) for v in value]
    if isinstance(value, Mapping):
        return {k: _expand_root(v, root) for k, v in value.items()}
    return value


def import_servers(
    servers: Mapping[str, Any], *, description: str = "", prefix: str = ""
) -> ImportResult:
    """Parse a ``mcpServers`` map; invalid names are turned into valid ones where possible."""
    ok: list[ExternalServer] = []
    errors: list[str] = []
    seen: set[str] = set()
    for source_name, raw in servers.items():
        name = suggest_name(f"{prefix}{source_name}")
        try:
            if name in seen:
                raise InvalidServerConfig(f"server {source_name!r}: duplicate name {name!r}")
            server = parse_config(name, raw, description=description)
        except ServerError as exc:
            errors.append(str(exc) if source_name in str(exc) else f"{source_name}: {exc}")
            continue
        seen.add(name)
        desc = description or f"{source_name} MCP server"
        ok.append(
            ExternalServer(
                name=server.name,
                config=server.config,
                env=server.env,
                description=desc,
                source_name=str(source_name),
                secrets=server.secrets,
            )
        )
    return ImportResult(servers=tuple(ok), errors=tuple(errors))


def import_mcp_json(source: Path | str | Mapping[str, Any]) -> ImportResult:
    """Import every server of a ``.mcp.json`` file (a path, or its parsed content)."""
    doc = source if isinstance(source, Mapping) else _load_json(Path(source))
    return import_servers(_server_map(doc))


def import_plugin(folder: Path | str, *, prefix: str = "") -> ImportResult:
    """Import the MCP servers of a Claude Code plugin folder.

    Reads ``.claude-plugin/plugin.json`` (its ``mcpServers`` may be an inline map or a path
    to a JSON file), else the plugin's ``.mcp.json``; ``${CLAUDE_PLUGIN_ROOT}`` becomes the
    folder's absolute path.
    """
    root = Path(folder).resolve()
    manifest_path = root / ".claude-plugin" / "plugin.json"
    if not manifest_path.is_file():
        raise InvalidServerConfig(
            f"{root} is not a Claude Code plugin (no .claude-plugin/plugin.json)"
        )
    manifest = _load_json(manifest_path)
    if not isinstance(manifest, Mapping):
        raise InvalidServerConfig("plugin.json must hold a JSON object")
    description = str(manifest.get("description") or "")[:200]
    declared = manifest.get("mcpServers")
    if isinstance(declared, str):
        target = (root / declared).resolve()
        if root not in target.parents:
            raise InvalidServerConfig("plugin.json 'mcpServers' points outside the plugin")
        doc: object = _load_json(target)
    elif isinstance(declared, Mapping):
        doc = declared
    elif (root / ".mcp.json").is_file():
        doc = _load_json(root / ".mcp.json")
    else:
        raise InvalidServerConfig("the plugin declares no MCP servers")
    servers = _expand_root(_server_map(doc), str(root))
    return import_servers(servers, description=description, prefix=prefix)
