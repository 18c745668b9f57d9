"""Webhook ingress: ``POST /hooks/<webhook_id>`` and ``POST /hooks/<webhook_id>/<token>``.

The raw body is read under the size limit (413 before the limit is exceeded in memory, by the
``Content-Length`` header or while streaming), then handed to :class:`WebhookIngest`, which
verifies, rate-limits, deduplicates and appends durably. Every answer is a small JSON object;
nothing here ever answers with a traceback.
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from runner.app import Runner
from runner.commands.webhooks import for_runner
from runner.webhooks.ingest import IngestResult, WebhookIngest
from web.edge import BeforeBody, Early
from web.mcp_mount import Scope

__all__ = ["early_rejection", "hooks_blueprint"]

log = logging.getLogger("web.hooks")


def _answer(result: IngestResult) -> Response:
    response = jsonify(result.body)
    response.status_code = result.status
    for name, value in result.headers.items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, code: str, retry_after: str | None = None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return _answer(IngestResult(status, {"error": code}, headers))


def hooks_blueprint(runner: Runner, ingest: WebhookIngest | None = None) -> Blueprint:
    """The webhook ingress for *runner* (one :class:`WebhookIngest` per blueprint)."""
    bp = Blueprint("hooks", __name__)
    pipeline = ingest or WebhookIngest(for_runner(runner))
    bp.record_once(lambda state: state.app.extensions.__setitem__("webhook_ingest", pipeline))

    async def receive(webhook_id: str, token: str | None) -> Response:
        source = request.remote_addr or ""
        try:
            if await pipeline.endpoint(webhook_id) is None:
                pipeline.stats["not_found"] += 1
                return _error(404, "not_found")
            limit = pipeline.max_body_bytes
            declared = request.content_length
            if declared is not None and declared > limit:
                return _answer(await pipeline.too_large(webhook_id, request.headers, source=source))
            chunks: list[bytes] = []
            size = 0
            try:
                async for chunk in request.body:
                    size += len(chunk)
                    if size > limit:
                        return _answer(
                            await pipeline.too_large(webhook_id, request.headers, source=source)
                        )
                    chunks.append(chunk)
            except RequestEntityTooLarge:
                return _answer(await pipeline.too_large(webhook_id, request.headers, source=source))
            body = b"".join(chunks)
            result = await pipeline.handle(
                webhook_id, body, request.headers, url_token=token, source=source
            )
            return _answer(result)
        except Exception:
            log.exception("webhook %s: unexpected error", webhook_id)
            return _error(503, "unavailable", retry_after="5")

    @bp.post("/hooks/<webhook_id>")
    async def hook(webhook_id: str) -> Response:
        return await receive(webhook_id, None)

    @bp.post("/hooks/<webhook_id>/<token>")
    async def hook_with_token(webhook_id: str, token: str) -> Response:
        return await receive(webhook_id, token)

    return bp


def early_rejection(pipeline: WebhookIngest) -> BeforeBody:
    """For :class:`web.edge.Edge`: answer a POST to an unknown or disabled webhook id, or with a
    wrong URL token, before its body is read (a slow body cannot hold the connection)."""

    async def check(scope: Scope) -> Early | None:
        parts = str(scope.get("path", "")).split("/")
        if scope.get("method") != "POST" or len(parts) not in (3, 4) or parts[1] != "hooks":
            return None
        webhook_id = parts[2]
        token = parts[3] if len(parts) == 4 else None
        headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
            for k, v in scope.get("headers") or ()
        ]
        source = str((scope.get("client") or ("", 0))[0])
        try:
            result = await pipeline.precheck(
                webhook_id, url_token=token, headers=headers, source=source
            )
        except Exception:
            log.exception("webhook %s: precheck failed", webhook_id)
            return 503, {"error": "unavailable"}, {"Retry-After": "5"}
        if result is None:
            return None
        return result.status, dict(result.body), dict(result.headers)

    return check
