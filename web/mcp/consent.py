"""The OAuth consent page: the signed-in admin lets an MCP client (claude.ai, ...) in, or not.

Served by the dashboard app (register :data:`consent` on it), behind its login and CSRF guard;
an API token is not enough to approve. ``/authorize`` sends the browser here with ``txn``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from markupsafe import escape
from mcp.server.auth.provider import AuthorizeError
from quart import Blueprint, Response, redirect, request
from werkzeug.wrappers.response import Response as WerkzeugResponse

from web.auth import CSP, CSRF_FIELD, csrf_ok, csrf_token, current_user, login_required
from web.context import web
from web.mcp.oauth import CONSENT_PATH, Pending, provider_for

consent = Blueprint("mcp_consent", __name__)
AnyResponse = Response | WerkzeugResponse


def _origin(uri: str) -> str:
    p = urlsplit(uri)
    return f"{p.scheme}://{p.netloc}"


def _page(body: str, status: int = 200, *, form_target: str | None = None) -> Response:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Connect to Claude Runner</title></head><body><main>"
        f"{body}</main></body></html>"
    )
    resp = Response(html, status, content_type="text/html; charset=utf-8")
    if form_target:
        # The approve/deny POST answers with a redirect to the client's callback; browsers apply
        # form-action to that redirect, so allow exactly that origin.
        resp.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {form_target}"
        )
    return resp


def _describe(p: Pending) -> str:
    redirect_host = urlsplit(str(p.params.redirect_uri)).netloc
    scopes = ", ".join(p.params.scopes or ["mcp"])
    return (
        f"<h1>Connect {escape(p.client_name)} to Claude Runner?</h1>"
        f"<p><strong>{escape(p.client_name)}</strong> (client id <code>{escape(p.client_id)}"
        f"</code>) asks for access <em>{escape(scopes)}</em>: it will be able to list, create, "
        "change, delete and run jobs, read run output and costs, and manage webhooks and tool "
        "servers, as you.</p>"
        f"<p>After your answer the browser returns to <code>{escape(redirect_host)}</code>.</p>"
    )


def _user_ok() -> bool:
    user = current_user()
    return user is not None and not user.startswith("token:")


@consent.get(CONSENT_PATH)
@login_required
async def show() -> AnyResponse:
    if not _user_ok():
        return _page("<p>Sign in as the administrator to approve connections.</p>", 403)
    txn = request.args.get("txn", "")
    p = await provider_for(web().runner).pending(txn)
    if p is None:
        return _page(
            "<h1>This request has expired</h1><p>Start connecting again from the client.</p>",
            400,
        )
    token = escape(csrf_token())
    form = (
        f"<form method='post' action='{CONSENT_PATH}'>"
        f"<input type='hidden' name='{CSRF_FIELD}' value='{token}'>"
        f"<input type='hidden' name='txn' value='{escape(txn)}'>"
        "<button type='submit' name='decision' value='approve'>Allow</button> "
        "<button type='submit' name='decision' value='deny'>Deny</button>"
        "</form>"
    )
    return _page(_describe(p) + form, form_target=_origin(str(p.params.redirect_uri)))


@consent.post(CONSENT_PATH)
@login_required
async def decide() -> AnyResponse:
    if not _user_ok():
        return _page("<p>Sign in as the administrator to approve connections.</p>", 403)
    if not await csrf_ok():
        return _page("<p>Missing or wrong CSRF token: reload the page and try again.</p>", 403)
    form = await request.form
    provider = provider_for(web().runner)
    txn = str(form.get("txn", ""))
    if form.get("decision") == "approve" and await provider.pending(txn) is not None:
        try:
            target = await provider.approve(txn, subject=str(current_user()))
        except AuthorizeError:  # decided by another tab or process a moment ago
            return _page("<h1>This request has expired</h1>", 400)
    else:
        denied = await provider.deny(txn)
        if denied is None:
            return _page("<h1>This request has expired</h1>", 400)
        target = denied
    return redirect(target)
