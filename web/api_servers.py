"""JSON API for MCP tool servers and their credentials under ``/api/v1/servers``.

Credential values go in (``PUT``). A value comes out again only for a variable the server
declares non-sensitive (and that was stored so); every sensitive value is masked (at most its last
4 characters). ``sensitive: false`` for a declared-sensitive variable is refused (400).
Authentication and CSRF are the app's ``before_request`` guard.

    GET    /api/v1/servers                                     list (status, tools, credentials)
    POST   /api/v1/servers                                     create {name, code | config, ...}
    POST   /api/v1/servers/import                              {mcp_json: {...}} | {plugin_path}
    GET    /api/v1/servers/<name>[?code=1]                     one
    PATCH  /api/v1/servers/<name>                              update {code | config, ...}
    DELETE /api/v1/servers/<name>[?cascade=true]                 refused (409) while used
    POST   /api/v1/servers/<name>/enable | /disable | /discover
    GET    /api/v1/servers/<name>/credentials
    PUT    /api/v1/servers/<name>/credentials/<variable>       {value, sensitive?}
    DELETE /api/v1/servers/<name>/credentials/<variable>
    POST   /api/v1/servers/<name>/tools/<tool>/invoke          {arguments?, timeout?}
"""

from __future__ import annotations

from typing import Any

import msgspec
from quart import Blueprint, Response, g, jsonify, request

from runner.errors import CommandError, InvalidInput
from web.api_input import json_body
from web.context import web

__all__ = ["api_servers"]

api_servers = Blueprint("api_servers", __name__, url_prefix="/api/v1/servers")


def _json(data: Any, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _actor() -> str:
    return str(g.get("user") or "api")


async def _body() -> dict[str, Any]:
    return await json_body()


@api_servers.errorhandler(CommandError)
async def _command_error(exc: CommandError) -> Response:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    return _json({"error": body}, exc.status)


@api_servers.get("")
async def list_servers() -> Response:
    rows = await web().runner.servers.describe_all()
    return _json({"servers": rows, "count": len(rows)})


@api_servers.post("")
async def create_server() -> Response:
    r = web().runner
    data = await _body()
    srv = await r.servers.create(data, actor=_actor())
    return _json(await r.servers.describe(srv.name, code=True), 201)


@api_servers.post("/import")
async def import_servers() -> Response:
    r = web().runner
    data = await _body()
    if isinstance(data.get("mcp_json"), dict):
        out = await r.servers.import_mcp_json(data["mcp_json"], actor=_actor())
    elif isinstance(data.get("plugin_path"), str):
        prefix = str(data.get("prefix") or "")
        out = await r.servers.import_plugin(data["plugin_path"], prefix=prefix, actor=_actor())
    else:
        raise InvalidInput("give mcp_json (the parsed .mcp.json object) or plugin_path")
    return _json(out, 201 if out["created"] else 200)


@api_servers.get("/<name>")
async def get_server(name: str) -> Response:
    code = request.args.get("code", "") in ("1", "true", "yes")
    return _json(await web().runner.servers.describe(name, code=code))


@api_servers.patch("/<name>")
async def update_server(name: str) -> Response:
    r = web().runner
    await r.servers.update(name, await _body(), actor=_actor())
    return _json(await r.servers.describe(name, code=True))


@api_servers.delete("/<name>")
async def delete_server(name: str) -> Response:
    cascade = request.args.get("cascade", "").lower() in ("1", "true", "yes")
    await web().runner.servers.delete(name, actor=_actor(), cascade=cascade)
    return _json({"name": name, "deleted": True})


@api_servers.post("/<name>/enable")
async def enable_server(name: str) -> Response:
    r = web().runner
    await r.servers.enable(name, actor=_actor())
    return _json(await r.servers.describe(name))


@api_servers.post("/<name>/disable")
async def disable_server(name: str) -> Response:
    r = web().runner
    await r.servers.disable(name, actor=_actor())
    return _json(await r.servers.describe(name))


@api_servers.post("/<name>/discover")
async def discover_server(name: str) -> Response:
    r = web().runner
    await r.servers.discover(name)
    return _json(await r.servers.describe(name))


@api_servers.get("/<name>/credentials")
async def list_credentials(name: str) -> Response:
    infos = await web().runner.credentials.show(name)
    return _json({"server": name, "credentials": [msgspec.to_builtins(i) for i in infos]})


@api_servers.put("/<name>/credentials/<variable>")
async def set_credential(name: str, variable: str) -> Response:
    data = await _body()
    sensitive = data.get("sensitive")
    if sensitive is not None and not isinstance(sensitive, bool):
        raise InvalidInput("sensitive must be true or false", field="sensitive")
    info = await web().runner.servers.set_credential(
        name, variable, data.get("value"), sensitive=sensitive, actor=_actor()
    )
    return _json({"server": name, "credential": msgspec.to_builtins(info)})


@api_servers.delete("/<name>/credentials/<variable>")
async def delete_credential(name: str, variable: str) -> Response:
    await web().runner.servers.delete_credential(name, variable, actor=_actor())
    return _json({"server": name, "deleted": variable})


@api_servers.post("/<name>/tools/<tool>/invoke")
async def invoke(name: str, tool: str) -> Response:
    data = await _body()
    args = data.get("arguments") or {}
    if not isinstance(args, dict):
        raise InvalidInput("arguments must be an object", field="arguments")
    timeout = data.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise InvalidInput("timeout must be a positive number of seconds", field="timeout")
    out = await web().runner.servers.invoke(
        name, tool, args, actor=_actor(), time_limit=float(timeout) if timeout else None
    )
    return _json({"server": name, "tool": tool, "result": out})
