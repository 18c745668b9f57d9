"""Dashboard pages for MCP tool servers: status, tools, credentials (masked), enable toggle.

    GET  /servers                              every server with its status; a create form
    POST /servers                              create a Python server from pasted code
    GET  /servers/<name>                       tools, start error, credential form, code
    POST /servers/<name>/credentials           set the non-empty fields of the form
    POST /servers/<name>/credentials/<var>/delete
    POST /servers/<name>/toggle                enable or disable
    POST /servers/<name>/discover              start it now and list its tools
    POST /servers/<name>/delete

Sign-in and CSRF are checked by the app's guard; every form carries ``csrf_token``. Values are
never rendered back: inputs are empty password fields, the stored value shows masked.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WResponse

from runner.errors import CommandError
from web.context import web
from web.list_paging import page_in_memory

__all__ = ["servers_pages"]

servers_pages = Blueprint("servers_pages", __name__)
STATUS_TEXT = {
    "ready": "ready",
    "needs_credentials": "needs credentials",
    "fails_to_start": "fails to start",
    "starting": "not started yet",
    "disabled": "disabled",
}


def _actor() -> str:
    return str(g.get("user") or "user")


def _back(name: str, **params: str) -> WResponse:
    values: dict[str, Any] = {"name": name, **params}
    return redirect(url_for("servers_pages.server", **values))


@servers_pages.get("/servers")
async def servers() -> str:
    listed = page_in_memory(await web().runner.servers.describe_all(), lambda s: s["name"])
    return await render_template(
        "servers.html", rows=listed["items"], listed=listed, status_text=STATUS_TEXT, errors={},
        form={},
    )  # fmt: skip


@servers_pages.post("/servers")
async def create() -> Any:
    form = await request.form
    data = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", ""),
        "code": form.get("code", ""),
    }
    try:
        await web().runner.servers.create(data, actor=_actor())
    except CommandError as exc:
        rows = await web().runner.servers.describe_all()
        page = await render_template(
            "servers.html",
            rows=rows,
            status_text=STATUS_TEXT,
            errors={exc.field or "form": exc.message},
            form=data,
        )
        return page, exc.status
    return _back(data["name"])


@servers_pages.get("/servers/<name>")
async def server(name: str) -> str:
    srv = await web().runner.servers.describe(name, code=True)
    return await render_template(
        "server.html",
        s=srv,
        status_text=STATUS_TEXT,
        saved=request.args.get("saved"),
        error=request.args.get("error"),
    )


@servers_pages.post("/servers/<name>/credentials")
async def set_credentials(name: str) -> WResponse:
    form = await request.form
    r = web().runner
    await r.queries.server(name)
    saved = []
    for key, value in form.items():
        if not key.startswith("value:") or not value:
            continue
        variable = key[len("value:") :]
        try:
            await r.servers.set_credential(name, variable, value, actor=_actor())
        except CommandError as exc:
            return _back(name, error=exc.message)
        saved.append(variable)
    return _back(name, saved=",".join(saved) or "nothing")


@servers_pages.post("/servers/<name>/credentials/<variable>/delete")
async def delete_credential(name: str, variable: str) -> WResponse:
    try:
        await web().runner.servers.delete_credential(name, variable, actor=_actor())
    except CommandError as exc:
        return _back(name, error=exc.message)
    return _back(name)


@servers_pages.post("/servers/<name>/toggle")
async def toggle(name: str) -> WResponse:
    r = web().runner
    srv = await r.queries.server(name)
    if srv.enabled:
        await r.servers.disable(name, actor=_actor())
    else:
        await r.servers.enable(name, actor=_actor())
    return _back(name)


@servers_pages.post("/servers/<name>/discover")
async def discover(name: str) -> WResponse:
    await web().runner.servers.discover(name)
    return _back(name)


@servers_pages.post("/servers/<name>/delete")
async def delete(name: str) -> WResponse:
    try:
        await web().runner.servers.delete(name, actor=_actor())
    except CommandError as exc:
        return _back(name, error=exc.message)
    return redirect(url_for("servers_pages.servers"))
