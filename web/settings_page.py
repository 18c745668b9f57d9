"""The Settings page: the runtime settings form and the API tokens (create, view once, revoke);
every successful POST redirects, so reloading repeats nothing."""

from __future__ import annotations

from typing import Any

import msgspec
from quart import redirect, render_template, request, url_for

from projections.settings import BUILTIN_TOOLS
from runner.errors import CommandError, InvalidInput
from web.auth import AnyResponse
from web.context import web
from web.form_labels import friendly
from web.settings_form import settings_errors, settings_form, stash_token, take_token

__all__ = ["settings"]


async def settings() -> AnyResponse | tuple[str, int]:
    """Settings and API tokens; every successful POST redirects (reloading repeats nothing)."""
    w = web()
    errors: dict[str, str] = {}
    typed: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        form = await request.form
        action = form.get("action", "settings")
        try:
            if action == "settings":
                typed = settings_form(form)
                wanted, errors = settings_errors(typed)
                if errors:
                    raise InvalidInput(next(iter(errors.values())))
                current = msgspec.to_builtins(await w.runner.queries.settings())
                diff = {k: v for k, v in wanted.items() if current.get(k) != v}
                if diff:
                    await w.runner.settings.change(diff, actor="admin")
                return redirect(url_for("pages.settings", saved=1))
            if action == "create_token":
                token = await w.access.create_token(form.get("name", ""), actor="admin")
                return redirect(url_for("pages.settings", shown=stash_token(token)))
            if action == "revoke_token":
                await w.access.revoke_token(form.get("token_id", ""), actor="admin")
                return redirect(url_for("pages.settings", revoked=1))
        except CommandError as exc:
            key = exc.field or "form"
            if not errors:
                errors["token_" + key if action == "create_token" else key] = friendly(exc.message)
            status = exc.status
    html = await render_template(
        "settings.html",
        s=await w.runner.queries.settings(),
        typed=typed,
        tools=BUILTIN_TOOLS,
        tokens=await w.access.tokens(),
        new_token=take_token(request.args.get("shown", "")),
        saved=request.args.get("saved") == "1",
        errors=errors,
    )
    return html, status
