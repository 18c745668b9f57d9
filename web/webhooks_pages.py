"""Dashboard pages for webhooks: endpoints, the secret shown once, deliveries, rejections, replay.

    GET  /webhooks                                          every endpoint with its counts
    GET  /webhooks/new, POST                                create → the secret and URL, once
    POST /webhooks/check-template                           live template check (JSON)
    GET  /webhooks/<id>?offset=&roffset=                    settings, deliveries, rejections
    GET  /webhooks/<id>/edit, POST                          change name, template, run settings
    POST /webhooks/<id>/enable | /disable
    POST /webhooks/<id>/rotate-secret                       → the new secret, once
    GET  /webhooks/<id>/delete, POST                        confirm, then delete
    GET  /webhooks/<id>/deliveries/<delivery_id>            masked headers, body, run
    POST /webhooks/<id>/deliveries/<delivery_id>/replay     → the new delivery

Sign-in and CSRF are checked by the app's guard; every form carries ``csrf_token``. The secret
page is the answer to the POST itself (never a redirect): a secret never travels in a URL or
in the session cookie, and ``Cache-Control: no-store`` keeps it out of the browser cache.
"""

from __future__ import annotations

import json
import time
from typing import Any

from quart import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers.response import Response as WResponse

from actors.templates import validate_template
from projections import DeliveryView, WebhookView
from projections.queries import runs as run_queries
from projections.settings import BUILTIN_TOOLS
from runner.commands.webhooks import DEFAULT_GRACE_SECONDS, for_runner, hook_path, public_view
from runner.errors import CommandError, NotFound
from runner.webhooks.verify import SCHEMES
from web.context import web
from web.list_paging import page_in_memory

__all__ = ["webhooks_pages"]

webhooks_pages = Blueprint("webhooks_pages", __name__)
PAGE = 20
SCHEME_TEXT = {
    "url_token": "secret token in the URL",
    "standard_webhooks": "Standard Webhooks signature",
    "github": "GitHub (X-Hub-Signature-256)",
    "stripe": "Stripe (Stripe-Signature)",
}
_NUMBERS = ("timeout_seconds", "max_turns", "budget_usd", "rate_per_minute", "burst")
Page = str | tuple[str, int]


def _actor() -> str:
    return str(g.get("user") or "user")


def _base_url() -> str:
    return web().runner.config.public_origin


def _offset(name: str) -> int:
    raw = request.args.get(name, "")
    return max(0, int(raw)) if raw.isdigit() else 0


def verification_text(how: str) -> str:
    """``github:ok:previous_secret`` → words for the deliveries table."""
    parts = how.split(":")
    if parts[0] == "replay":
        return f"replay (by {':'.join(parts[1:]) or 'unknown'})"
    if len(parts) >= 2 and parts[1] == "ok":
        scheme = SCHEME_TEXT.get(parts[0], parts[0])
        if "previous_secret" in parts[2:]:
            return f"verified with the previous secret: {scheme}"
        return f"verified: {scheme}"
    return how


def _form_data(form: MultiDict[str, str], *, create: bool) -> dict[str, Any]:
    tools = [t for t in form.getlist("tools") if t]
    extra = form.get("extra_tools", "").replace("\n", ",").split(",")
    tools += [t.strip() for t in extra if t.strip()]
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", ""),
        "prompt_template": form.get("prompt_template", ""),
        "tools": tools,
        "mcp_servers": [s for s in form.getlist("mcp_servers") if s],
        "model": form.get("model", "").strip() or None,
        "node_label": form.get("node_label", "").strip(" ") or None,
    }
    for key in _NUMBERS:
        data[key] = form.get(key, "").strip() or None
    if create:
        data["scheme"] = form.get("scheme") or "url_token"
        data["secret"] = form.get("secret") or None
    return data


def _values_of(hook: WebhookView) -> dict[str, Any]:
    spec = hook.spec
    return {
        "name": hook.name,
        "description": hook.description,
        "prompt_template": hook.prompt_template,
        "tools": list(spec.tools),
        "extra_tools": ", ".join(t for t in spec.tools if t.startswith("mcp__")),
        "mcp_servers": list(spec.mcp_servers),
        "model": spec.model,
        "timeout_seconds": spec.timeout_seconds,
        "max_turns": spec.max_turns,
        "budget_usd": spec.budget_usd,
        "node_label": spec.node_label,
        "rate_per_minute": hook.rate_per_minute,
        "burst": hook.burst,
        "scheme": hook.scheme,
    }


async def _form_page(
    values: dict[str, Any], hook: WebhookView | None, errors: dict[str, str], status: int = 200
) -> Page:
    q = web().runner.queries
    settings = await q.settings()
    shown = {k: v for k, v in values.items() if k != "secret"}  # never echo a pasted secret
    html = await render_template(
        "webhooks/form.html",
        v=shown,
        hook=hook,
        errors=errors,
        schemes=SCHEMES,
        scheme_text=SCHEME_TEXT,
        builtin_tools=[t for t in BUILTIN_TOOLS if t in settings.allowed_builtin_tools],
        servers=await q.servers(),
        settings=settings,
    )
    return (html, status) if status != 200 else html


def _errors_of(exc: CommandError) -> dict[str, str]:
    field = {"prompt": "prompt_template", None: "form"}.get(exc.field, exc.field)
    return {field or "form": exc.message}


async def _secret_page(hook: WebhookView, secret: str, *, rotated: bool) -> str:
    path = hook_path(hook.webhook_id, hook.scheme, secret if hook.scheme == "url_token" else None)
    return await render_template(
        "webhooks/secret.html",
        hook=hook,
        secret=secret,
        url=_base_url() + path,
        rotated=rotated,
        scheme_text=SCHEME_TEXT,
    )


async def _run_states(run_ids: list[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    rows = await web().runner.store.fetch(*run_queries.states_of(run_ids))
    return {str(r[0]): str(r[1]) for r in rows}


async def _delivery_of(webhook_id: str, delivery_id: str) -> DeliveryView:
    found = await web().runner.queries.delivery(delivery_id)
    if found.webhook_id != webhook_id:
        raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id!r}")
    return found


def pretty_body(d: DeliveryView) -> str:
    """The body indented when it is JSON, else as received (escaped by the template)."""
    if not d.body_is_json:
        return d.body
    try:
        return json.dumps(json.loads(d.body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return d.body


# --- list and create ----------------------------------------------------------------------


@webhooks_pages.get("/webhooks")
async def webhooks() -> str:
    listed = page_in_memory(await web().runner.queries.webhooks(), lambda h: h.name)
    return await render_template(
        "webhooks/list.html", hooks=listed["items"], listed=listed, scheme_text=SCHEME_TEXT
    )


@webhooks_pages.route("/webhooks/new", methods=["GET", "POST"])
async def new() -> Page:
    if request.method != "POST":
        return await _form_page({"scheme": "url_token", "tools": []}, None, {})
    data = _form_data(await request.form, create=True)
    try:
        hook, secret, _warnings = await for_runner(web().runner).create(data, actor=_actor())
    except CommandError as exc:
        return await _form_page(data, None, _errors_of(exc), exc.status)
    return await _secret_page(hook, secret, rotated=False)


@webhooks_pages.post("/webhooks/check-template")
async def check_template() -> tuple[dict[str, Any], int]:
    """``{"template": …}`` → ``{"ok": bool, "problems": [...]}`` for the form's live message."""
    data = await request.get_json(force=True, silent=True)
    template = data.get("template") if isinstance(data, dict) else None
    if not isinstance(template, str):
        return {"ok": False, "problems": ['send {"template": "..."}']}, 400
    problems = validate_template(template)
    return {"ok": not problems, "problems": problems}, 200


# --- one webhook --------------------------------------------------------------------------


@webhooks_pages.get("/webhooks/<webhook_id>")
async def webhook(webhook_id: str) -> str:
    q = web().runner.queries
    hook = await q.webhook(webhook_id)
    offset, roffset = _offset("offset"), _offset("roffset")
    # Keyset (?before=, ?rbefore=: next_cursor of the page before) unless an old offset link.
    before = request.args.get("before", "")[:240] or None
    rbefore = request.args.get("rbefore", "")[:240] or None
    deliveries = await q.deliveries(webhook_id, limit=PAGE, offset=offset, cursor=before)
    rejections = await q.rejections(webhook_id, limit=PAGE, offset=roffset, cursor=rbefore)
    view = public_view(hook)
    return await render_template(
        "webhooks/detail.html",
        hook=hook,
        view=view,
        url=_base_url() + view["path"],
        deliveries=deliveries,
        rejections=rejections,
        states=await _run_states([d.run_id for d in deliveries.items]),
        offset=offset,
        roffset=roffset,
        before=before,
        rbefore=rbefore,
        page_size=PAGE,
        verification_text=verification_text,
        scheme_text=SCHEME_TEXT,
        default_grace=int(DEFAULT_GRACE_SECONDS),
        previous_active=bool(hook.previous_valid_until and hook.previous_valid_until > time.time()),
    )


@webhooks_pages.route("/webhooks/<webhook_id>/edit", methods=["GET", "POST"])
async def edit(webhook_id: str) -> Page | WResponse:
    hook = await web().runner.queries.webhook(webhook_id)
    if request.method != "POST":
        return await _form_page(_values_of(hook), hook, {})
    data = _form_data(await request.form, create=False)
    try:
        await for_runner(web().runner).update(webhook_id, data, actor=_actor())
    except CommandError as exc:
        return await _form_page({**data, "scheme": hook.scheme}, hook, _errors_of(exc), exc.status)
    return redirect(url_for("webhooks_pages.webhook", webhook_id=webhook_id))


@webhooks_pages.post("/webhooks/<webhook_id>/enable")
async def enable(webhook_id: str) -> WResponse:
    await for_runner(web().runner).enable(webhook_id, actor=_actor())
    return redirect(url_for("webhooks_pages.webhook", webhook_id=webhook_id))


@webhooks_pages.post("/webhooks/<webhook_id>/disable")
async def disable(webhook_id: str) -> WResponse:
    await for_runner(web().runner).disable(webhook_id, actor=_actor())
    return redirect(url_for("webhooks_pages.webhook", webhook_id=webhook_id))


@webhooks_pages.post("/webhooks/<webhook_id>/rotate-secret")
async def rotate_secret(webhook_id: str) -> Page:
    form = await request.form
    raw = form.get("grace_seconds", "").strip()
    try:
        grace = float(raw) if raw else DEFAULT_GRACE_SECONDS
        hook, secret = await for_runner(web().runner).rotate_secret(
            webhook_id, grace_seconds=grace, secret=form.get("secret") or None, actor=_actor()
        )
    except ValueError:
        return await _rotate_error(webhook_id, "grace period must be a number of seconds", 422)
    except CommandError as exc:
        if exc.status == 404:
            raise
        return await _rotate_error(webhook_id, exc.message, exc.status)
    return await _secret_page(hook, secret, rotated=True)


async def _rotate_error(webhook_id: str, message: str, status: int) -> tuple[str, int]:
    hook = await web().runner.queries.webhook(webhook_id)
    html = await render_template(
        "webhooks/problem.html", hook=hook, title="The secret was not rotated", message=message
    )
    return html, status


@webhooks_pages.route("/webhooks/<webhook_id>/delete", methods=["GET", "POST"])
async def delete(webhook_id: str) -> str | WResponse:
    hook = await web().runner.queries.webhook(webhook_id)
    if request.method != "POST":
        return await render_template("webhooks/delete.html", hook=hook)
    await for_runner(web().runner).delete(webhook_id, actor=_actor())
    return redirect(url_for("webhooks_pages.webhooks"))


# --- deliveries ---------------------------------------------------------------------------


@webhooks_pages.get("/webhooks/<webhook_id>/deliveries/<delivery_id>")
async def delivery(webhook_id: str, delivery_id: str) -> str:
    q = web().runner.queries
    hook = await q.webhook(webhook_id)
    found = await _delivery_of(webhook_id, delivery_id)
    states = await _run_states([found.run_id])
    return await render_template(
        "webhooks/delivery.html",
        hook=hook,
        d=found,
        body=pretty_body(found),
        run_state=states.get(found.run_id),
        verification=verification_text(found.verification),
        replayed=request.args.get("replayed") == "1",
    )


@webhooks_pages.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/replay")
async def replay(webhook_id: str, delivery_id: str) -> WResponse:
    await _delivery_of(webhook_id, delivery_id)
    new_delivery = await for_runner(web().runner).replay(delivery_id, actor=_actor())
    target = url_for(
        "webhooks_pages.delivery", webhook_id=webhook_id, delivery_id=new_delivery.delivery_id
    )
    return redirect(target + "?replayed=1")
