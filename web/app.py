"""The Quart app factory: pages, API, webhook ingress, auth guard, errors, the SSE hub."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

from quart import Quart, Response, render_template, request
from werkzeug.exceptions import HTTPException

from events.errors import ChainBrokenError, StorageUnavailable
from events.storage_faults import classify
from runner.access import Access
from runner.app import Runner
from runner.errors import CommandError
from runner.queries_web import WebQueries
from web import api_input, auth
from web.api import api
from web.api_servers import api_servers
from web.approvals_pages import install as install_approvals
from web.assistant_pages import assistant_pages
from web.context import KEY, Web
from web.live import encode
from web.mcp.consent import consent as mcp_consent
from web.pages import pages
from web.render import clock, duration, money, number, reltime, when
from web.run_pages import globals_for as run_pages_globals
from web.run_pages import run_pages
from web.servers_pages import servers_pages
from web.sse import Hub
from web.webhooks_pages import webhooks_pages

log = logging.getLogger("web")
HERE = Path(__file__).parent
MAX_BODY = 1024 * 1024
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid",
          429: "rate_limited"}  # fmt: skip


def create_app(runner: Runner, service: Any = None, *, hub_buffer: int = 512) -> Quart:
    """The dashboard + API app for ``runner`` (``service`` gives health; None in tests)."""
    app = Quart(
        "web",
        static_folder=str(HERE / "static"),
        template_folder=str(HERE / "templates"),
    )
    https = (runner.config.public_url or "").startswith("https://")
    app.config.update(
        SECRET_KEY=auth.session_secret(runner.config.data_dir),
        SESSION_COOKIE_NAME="runner_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(days=7),
        MAX_CONTENT_LENGTH=MAX_BODY,
        BODY_TIMEOUT=30,
        JSON_SORT_KEYS=False,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    hub = Hub(runner.store, encode, buffer=hub_buffer)
    w = Web(
        runner=runner,
        service=service,
        access=Access(runner.store),
        wq=WebQueries(runner.store),
        hub=hub,
        limiter=auth.LoginLimiter(),
    )
    app.extensions[KEY] = w
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(servers_pages)  # tool servers (web/servers_pages.py)
    app.register_blueprint(api_servers)  # /api/v1/servers (web/api_servers.py)
    app.register_blueprint(webhooks_pages)  # webhooks dashboard (web/webhooks_pages.py)
    app.register_blueprint(mcp_consent)  # OAuth consent page of /mcp (web/mcp/consent.py)
    app.register_blueprint(run_pages)  # re-run, list change feed (web/run_pages.py)
    install_approvals(app)  # approvals panel, list and API (web/approvals_pages.py)
    app.register_blueprint(assistant_pages)  # conversations with Claude (web/assistant_pages.py)
    _register_hooks(app, runner)
    app.before_request(auth.guard)
    app.before_request(api_input.check)  # /api/v1 input against the OpenAPI document
    app.after_request(auth.security_headers)
    app.jinja_env.globals.update(
        csrf_token=auth.csrf_token, current_user=auth.current_user, now=dt.datetime.now
    )
    app.jinja_env.filters.update(when=when, money=money, number=number, duration=duration)
    app.jinja_env.filters.update(reltime=reltime, clock=clock)  # browser-local times
    run_pages_globals(app.jinja_env.globals)
    hub_task: list[asyncio.Task[None]] = []

    @app.before_serving
    async def startup() -> None:
        # Read-only (broken chain): no admin can be created, existing logins still work.
        ok = runner.store.chain.ok
        generated = await w.access.ensure_admin(runner.config.admin_password) if ok else None
        if generated:
            print(
                f"\n*** Claude Runner admin account created: user 'admin', password "
                f"'{generated}'\n*** It is shown only this once; set RUNNER_ADMIN_PASSWORD to "
                "choose your own.\n",
                file=sys.stderr,
                flush=True,
            )
        hub_task.append(asyncio.get_running_loop().create_task(_keep_hub_running(hub)))

    @app.after_serving
    async def shutdown() -> None:
        hub.close()
        for task in hub_task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @app.errorhandler(CommandError)
    async def command_error(exc: CommandError) -> Response | tuple[str, int]:
        return await _error(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(ChainBrokenError)
    async def chain_broken(exc: ChainBrokenError) -> Response | tuple[str, int]:
        # Read-only after a broken hash chain: an operator must act (`runner chain-accept`).
        return await _error(503, "read_only", str(exc), None)

    @app.errorhandler(sqlite3.OperationalError)
    async def sqlite_error(exc: sqlite3.OperationalError) -> Response | tuple[str, int]:
        # A read that met a storage fault (an I/O error, a vanished file): 503, not 500.
        fault = classify(exc)
        if fault is None:
            raise exc
        return await storage_error(fault)

    @app.errorhandler(StorageUnavailable)
    async def storage_error(exc: StorageUnavailable) -> Response | tuple[str, int]:
        # Nothing was written; the client may retry once the fault clears.
        log.warning("answered 503: %s", exc)
        out = await _error(503, "storage_unavailable", str(exc), None)
        resp = out if isinstance(out, Response) else Response(out[0], status=503)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = f"the request body is larger than {MAX_BODY // 1024} KiB"
        resp = await _error(status, _CODES.get(status, "error"), str(message), None)
        allowed = api_input.allowed_methods(request.path) or getattr(exc, "valid_methods", None)
        if status == 405 and allowed:  # RFC 9110 §15.5.6: a 405 lists the allowed methods
            if isinstance(resp, tuple):
                resp = Response(resp[0], resp[1], content_type="text/html; charset=utf-8")
            resp.headers["Allow"] = ", ".join(sorted(allowed))
        return resp

    return app


async def _keep_hub_running(hub: Hub) -> None:
    """Restart the SSE hub if it ever fails (clients reconnect and resume from the log)."""
    delay = 0.5
    while True:
        try:
            await hub.run()
            return  # the store closed
        except Exception:
            log.exception("the SSE hub failed; restarting in %.1f s", delay)
            hub.close()
            hub.reopen()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _error(
    status: int, code: str, message: str, field: str | None
) -> Response | tuple[str, int]:
    if request.path.startswith("/api/"):
        return auth.api_error(status, code, message, field)
    html = await render_template("error.html", status=status, message=message)
    return html, status


def _register_hooks(app: Quart, runner: Runner) -> None:
    """Webhook ingress (``web/hooks.py``, another module's) when it exists."""
    try:
        hooks = importlib.import_module("web.hooks")
    except ModuleNotFoundError as exc:
        if exc.name != "web.hooks":
            raise
        return
    app.register_blueprint(hooks.hooks_blueprint(runner))
    try:
        api_hooks = importlib.import_module("web.api_webhooks")
    except ModuleNotFoundError as exc:
        if exc.name != "web.api_webhooks":
            raise
        return
    app.register_blueprint(api_hooks.api_webhooks_blueprint(runner))
