"""JSON API for webhooks under ``/api/v1/webhooks``: endpoints, deliveries, rejections, replay.

A webhook's secret appears in clear text in exactly two answers: the one that creates it and the
one that rotates it. Authentication is the app's concern (its ``before_request``), not this
blueprint's.

    GET    /api/v1/webhooks                                      list
    POST   /api/v1/webhooks                                      create  → 201 + secret (once)
    GET    /api/v1/webhooks/<id>                                 one
    PATCH  /api/v1/webhooks/<id>                                 update
    POST   /api/v1/webhooks/<id>/enable | /disable
    POST   /api/v1/webhooks/<id>/rotate-secret                   {grace_seconds?, secret?}
    DELETE /api/v1/webhooks/<id>
    GET    /api/v1/webhooks/<id>/deliveries?limit=&offset=|cursor=
    GET    /api/v1/webhooks/<id>/deliveries/<delivery_id>
    POST   /api/v1/webhooks/<id>/deliveries/<delivery_id>/replay → 202 {delivery_id, run_id}
    GET    /api/v1/webhooks/<id>/rejections?limit=&offset=|cursor=
"""

from __future__ import annotations

from typing import Any

import msgspec
from quart import Blueprint, Response, g, jsonify, request

from projections import DeliveryView, RejectionView, WebhookView
from projections.queries import runs as run_queries
from runner.app import Runner
from runner.commands.webhooks import DEFAULT_GRACE_SECONDS, for_runner, hook_path, public_view
from runner.errors import CommandError, InvalidInput, NotFound
from runner.queries import Page
from web.api_input import json_body

__all__ = ["api_webhooks_blueprint"]

LIST_BODY_CHARS = 4096
"""Bodies in a delivery list are cut here (up to 1 MiB each); one delivery shows it whole."""


def _json(data: Any, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _delivery(d: DeliveryView, *, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(d)
    out.pop("dedupe_key", None)
    out["body_chars"] = len(d.body)
    out["body_truncated"] = not full and len(d.body) > LIST_BODY_CHARS
    if out["body_truncated"]:
        out["body"] = d.body[:LIST_BODY_CHARS]
    return out


def _listed(d: DeliveryView) -> dict[str, Any]:
    return _delivery(d, full=False)


def _rejection(r: RejectionView) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(r)
    return out


def _page(page: Page, convert: Any) -> dict[str, Any]:
    return {
        "items": [convert(i) for i in page.items],
        "limit": page.limit,
        "offset": page.offset,
        "total": page.total,
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name)


async def _body() -> dict[str, Any]:
    return await json_body()


def api_webhooks_blueprint(runner: Runner) -> Blueprint:
    """The webhook API of *runner*."""
    bp = Blueprint("api_webhooks", __name__, url_prefix="/api/v1/webhooks")
    cmd = for_runner(runner)
    q = runner.queries

    def base_url() -> str:
        return runner.config.public_origin

    def who() -> str:
        user = g.get("user")
        return str(user) if user else "api"

    def view(hook: WebhookView, secret: str | None = None) -> dict[str, Any]:
        out = public_view(hook)
        out["url"] = base_url() + out["path"]
        if secret is not None:
            out["secret"] = secret
            if hook.scheme == "url_token":
                out["path"] = hook_path(hook.webhook_id, hook.scheme, secret)
                out["url"] = base_url() + out["path"]
            out["secret_notice"] = "shown once: store it now, it cannot be displayed again"
        return out

    @bp.errorhandler(CommandError)
    async def command_error(exc: CommandError) -> Response:
        error = {"code": exc.code, "message": exc.message}
        if exc.field:
            error["field"] = exc.field
        return _json({"error": error}, exc.status)

    @bp.get("")
    async def list_webhooks() -> Response:
        hooks = await q.webhooks()
        limit = max(1, min(_int_arg("limit") or 200, 200))
        offset = max(0, _int_arg("offset") or 0)
        shown = hooks[offset : offset + limit]
        return _json(
            {
                "items": [view(h) for h in shown],
                "limit": limit,
                "offset": offset,
                "total": len(hooks),
                "has_more": offset + len(shown) < len(hooks),
            }
        )

    @bp.post("")
    async def create() -> Response:
        hook, secret, warnings = await cmd.create(await _body(), actor=who())
        return _json({**view(hook, secret), "warnings": warnings}, 201)

    @bp.get("/<webhook_id>")
    async def one(webhook_id: str) -> Response:
        return _json(view(await q.webhook(webhook_id)))

    @bp.patch("/<webhook_id>")
    async def update(webhook_id: str) -> Response:
        hook, warnings = await cmd.update(webhook_id, await _body(), actor=who())
        return _json({**view(hook), "warnings": warnings})

    @bp.post("/<webhook_id>/enable")
    async def enable(webhook_id: str) -> Response:
        return _json(view(await cmd.enable(webhook_id, actor=who())))

    @bp.post("/<webhook_id>/disable")
    async def disable(webhook_id: str) -> Response:
        return _json(view(await cmd.disable(webhook_id, actor=who())))

    @bp.post("/<webhook_id>/rotate-secret")
    async def rotate(webhook_id: str) -> Response:
        data = await _body()
        grace = data.get("grace_seconds", DEFAULT_GRACE_SECONDS)
        if isinstance(grace, bool) or not isinstance(grace, int | float):
            raise InvalidInput("grace_seconds must be a number", field="grace_seconds")
        secret = data.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise InvalidInput("secret must be a string", field="secret")
        hook, new = await cmd.rotate_secret(
            webhook_id, grace_seconds=float(grace), secret=secret, actor=who()
        )
        return _json(view(hook, new))

    @bp.delete("/<webhook_id>")
    async def delete(webhook_id: str) -> Response:
        await cmd.delete(webhook_id, actor=who())
        return _json({"deleted": webhook_id})

    @bp.get("/<webhook_id>/deliveries")
    async def deliveries(webhook_id: str) -> Response:
        page = await q.deliveries(
            webhook_id,
            limit=_int_arg("limit"),
            offset=_int_arg("offset") or 0,
            cursor=request.args.get("cursor"),
        )
        out = _page(page, _listed)
        run_ids = [item["run_id"] for item in out["items"]]
        states: dict[str, str] = {}
        if run_ids:
            rows = await runner.store.fetch(*run_queries.states_of(run_ids))
            states = {str(r[0]): str(r[1]) for r in rows}
        for item in out["items"]:
            item["run_state"] = states.get(item["run_id"], "pending")
        return _json(out)

    @bp.get("/<webhook_id>/deliveries/<delivery_id>")
    async def delivery(webhook_id: str, delivery_id: str) -> Response:
        found = await q.delivery(delivery_id)
        if found.webhook_id != webhook_id:
            raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id!r}")
        out = _delivery(found)
        try:
            out["run"] = msgspec.to_builtins(await q.run(found.run_id))
        except NotFound:
            out["run"] = None
        return _json(out)

    @bp.post("/<webhook_id>/deliveries/<delivery_id>/replay")
    async def replay(webhook_id: str, delivery_id: str) -> Response:
        found = await q.delivery(delivery_id)
        if found.webhook_id != webhook_id:
            raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id!r}")
        new = await cmd.replay(delivery_id, actor=who())
        return _json(
            {"delivery_id": new.delivery_id, "run_id": new.run_id, "replay_of": new.replay_of},
            202,
        )

    @bp.get("/<webhook_id>/rejections")
    async def rejections(webhook_id: str) -> Response:
        page = await q.rejections(
            webhook_id,
            limit=_int_arg("limit"),
            offset=_int_arg("offset") or 0,
            cursor=request.args.get("cursor"),
        )
        return _json(_page(page, _rejection))

    return bp
