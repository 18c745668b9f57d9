"""Webhook tools: create, list, get, update, delete, rotate the secret, list deliveries.

The commands come from ``runner.commands.webhooks``; when that module is missing the tools are
still listed (their names and shapes are fixed) and answer "not available yet".
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Literal

import msgspec
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from runner.app import Runner
from web.mcp.assistant_guard import SECRET_HIDDEN, assistant_caller
from web.mcp.models import iso, page_info
from web.mcp.params import (
    BudgetUsd,
    Burst,
    Description,
    Limit,
    MaxTurns,
    ModelName,
    NewDescription,
    NewName,
    NodeLabel,
    Offset,
    RatePerMinute,
    ServerNames,
    TimeoutSeconds,
    ToolNames,
)
from web.mcp.refs import webhook_ref
from web.mcp.server import DESTRUCTIVE, DESTRUCTIVE_ONCE, IDEMPOTENT, READ, WRITE, RunnerMCP, actor
from web.mcp.shapes import DeliveryList, DeliveryOut, WebhookDeleted, WebhookList, WebhookOut

WebhookId = Annotated[
    str,
    Field(
        description="a webhook id such as 'wh_1a2b3c4d5e6f' (see list_webhooks), or the "
        "webhook's exact name"
    ),
]
Scheme = Literal["url_token", "standard_webhooks", "github", "stripe"]

try:
    _mod: Any = importlib.import_module("runner.commands.webhooks")
except ImportError:  # the webhook issue has not landed in this checkout
    _mod = None


def _public(runner: Runner, hook: Any) -> dict[str, Any]:
    view: dict[str, Any] = dict(_mod.public_view(hook))
    for key in ("last_delivery_at_us", "created_at_us", "updated_at_us"):
        if key in view:
            view[key.removesuffix("_us")] = iso(view.pop(key))
    view["url"] = runner.config.public_origin + str(view.get("path", ""))
    return view


def _with_secret(out: dict[str, Any], clear: str, scheme: str) -> dict[str, Any]:
    """The new secret (and a url_token URL) in the answer, except to an assistant turn: there
    it would be kept in the conversation's recorded output (``assistant_guard``)."""
    if assistant_caller() is not None:
        out["secret"] = SECRET_HIDDEN
        return out
    out["secret"] = clear
    if scheme == "url_token":
        out["url"] = out["url"].rsplit("/", 1)[0] + "/" + clear
    return out


def register(mcp: RunnerMCP, runner: Runner) -> None:
    cached: list[Any] = []

    def commands() -> Any:
        if _mod is None:
            raise ToolError(
                "webhooks are not available yet in this version of the runner "
                "(runner.commands.webhooks is missing)"
            )
        existing = getattr(runner, "webhooks", None)
        if existing is not None:
            return existing
        if not cached:  # the process-wide instance shares its secret cache with ingress
            shared = getattr(_mod, "for_runner", None)
            cached.append(
                shared(runner)
                if shared is not None
                else _mod.WebhookCommands(runner.store, runner.queries, runner.secret_box())
            )
        return cached[0]

    def given(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    @mcp.tool(annotations=WRITE)
    async def create_webhook(
        name: Annotated[str, Field(description="unique name")],
        prompt_template: Annotated[
            str,
            Field(
                description="the run's prompt; {{payload.field.sub}} inserts a value of the JSON "
                "body, {{payload}} the whole body, {{headers.x-github-event}} a header"
            ),
        ],
        description: Description = "",
        scheme: Annotated[
            Scheme,
            Field(
                description="how deliveries are verified: url_token (secret in the URL), "
                "standard_webhooks, github (X-Hub-Signature-256) or stripe"
            ),
        ] = "url_token",
        secret: Annotated[
            str | None, Field(description="use this secret (e.g. from GitHub); default: generated")
        ] = None,
        tools: ToolNames = None,
        mcp_servers: ServerNames = None,
        model: ModelName = None,
        timeout_seconds: TimeoutSeconds = None,
        max_turns: MaxTurns = None,
        budget_usd: BudgetUsd = None,
        node_label: NodeLabel = None,
        rate_per_minute: RatePerMinute = None,
        burst: Burst = None,
    ) -> WebhookOut:
        """Create a webhook endpoint: each verified POST starts a run with the rendered prompt.
        The secret is returned in clear text only in this answer — tell the user to store it."""
        data = given(
            name=name,
            prompt_template=prompt_template,
            description=description,
            scheme=scheme,
            secret=secret,
            tools=tools,
            mcp_servers=mcp_servers,
            model=model,
            timeout_seconds=timeout_seconds,
            max_turns=max_turns,
            budget_usd=budget_usd,
            node_label=node_label,
            rate_per_minute=rate_per_minute,
            burst=burst,
        )
        hook, clear, warnings = await commands().create(data, actor=actor())
        out = _with_secret(_public(runner, hook), clear, scheme)
        out["warnings"] = warnings
        return WebhookOut.model_validate(out)

    @mcp.tool(annotations=READ)
    async def list_webhooks(
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> WebhookList:
        """List webhook endpoints (secrets are never shown, only their last characters)."""
        commands()
        hooks = await runner.queries.webhooks()
        page = hooks[offset : offset + limit]
        return WebhookList(
            webhooks=[WebhookOut.model_validate(_public(runner, h)) for h in page],
            page=page_info(len(hooks), limit, offset, len(page)),
        )

    @mcp.tool(annotations=READ)
    async def get_webhook(webhook_id: WebhookId) -> WebhookOut:
        """Get one webhook endpoint: template, verification scheme, limits, delivery counts."""
        commands()
        webhook_id = await webhook_ref(runner, webhook_id)
        return WebhookOut.model_validate(_public(runner, await runner.queries.webhook(webhook_id)))

    @mcp.tool(annotations=IDEMPOTENT)
    async def update_webhook(
        webhook_id: WebhookId,
        name: NewName = None,
        prompt_template: Annotated[
            str | None,
            Field(description="new prompt template ({{payload.x}}, {{headers.y}}); optional"),
        ] = None,
        description: NewDescription = None,
        enabled: Annotated[
            bool | None, Field(description="false = deliveries are refused (404)")
        ] = None,
        tools: ToolNames = None,
        mcp_servers: ServerNames = None,
        model: ModelName = None,
        timeout_seconds: TimeoutSeconds = None,
        max_turns: MaxTurns = None,
        budget_usd: BudgetUsd = None,
        node_label: NodeLabel = None,
        rate_per_minute: RatePerMinute = None,
        burst: Burst = None,
    ) -> WebhookOut:
        """Change a webhook; fields left out keep their value. Use rotate_webhook_secret for
        the secret."""
        cmds = commands()
        webhook_id = await webhook_ref(runner, webhook_id)
        data = given(
            name=name,
            prompt_template=prompt_template,
            description=description,
            tools=tools,
            mcp_servers=mcp_servers,
            model=model,
            timeout_seconds=timeout_seconds,
            max_turns=max_turns,
            budget_usd=budget_usd,
            node_label=node_label,
            rate_per_minute=rate_per_minute,
            burst=burst,
        )
        warnings: list[str] = []
        if data:
            _hook, warnings = await cmds.update(webhook_id, data, actor=actor())
        if enabled is True:
            await cmds.enable(webhook_id, actor=actor())
        elif enabled is False:
            await cmds.disable(webhook_id, actor=actor())
        if not data and enabled is None:
            raise ToolError("invalid: nothing to update: give at least one field to change")
        out = _public(runner, await runner.queries.webhook(webhook_id))
        out["warnings"] = warnings
        return WebhookOut.model_validate(out)

    @mcp.tool(annotations=DESTRUCTIVE)
    async def delete_webhook(webhook_id: WebhookId) -> WebhookDeleted:
        """Delete a webhook endpoint: it answers 404 from now on; past deliveries stay."""
        cmds = commands()
        webhook_id = await webhook_ref(runner, webhook_id)
        await cmds.delete(webhook_id, actor=actor())
        return WebhookDeleted(webhook_id=webhook_id, deleted=True)

    @mcp.tool(annotations=DESTRUCTIVE_ONCE)
    async def rotate_webhook_secret(
        webhook_id: WebhookId,
        grace_seconds: Annotated[
            float,
            Field(ge=0, description="how long the old secret keeps working (0 = revoke now)"),
        ] = 86400.0,
        secret: Annotated[
            str | None, Field(description="the new secret; default: generated")
        ] = None,
    ) -> WebhookOut:
        """Replace a webhook's secret; returns the new secret in clear text (only this once)."""
        cmds = commands()
        webhook_id = await webhook_ref(runner, webhook_id)
        hook, clear = await cmds.rotate_secret(
            webhook_id, grace_seconds=grace_seconds, secret=secret, actor=actor()
        )
        return WebhookOut.model_validate(_with_secret(_public(runner, hook), clear, hook.scheme))

    @mcp.tool(annotations=READ)
    async def list_deliveries(
        webhook_id: WebhookId,
        limit: Limit = 20,
        offset: Offset = 0,
        include_rejected: Annotated[
            bool, Field(description="also list deliveries refused by verification or limits")
        ] = False,
        body_chars: Annotated[
            int, Field(ge=100, le=100_000, description="return at most this much of each body")
        ] = 2000,
    ) -> DeliveryList:
        """A webhook's accepted deliveries (newest first) with the run each started. Bodies are
        cut to body_chars (body_truncated says so; ask again with a larger body_chars)."""
        commands()
        webhook_id = await webhook_ref(runner, webhook_id)
        q: Any = runner.queries
        page = await q.deliveries(webhook_id, limit=limit, offset=offset)
        items = []
        for d in page.items:
            row = msgspec.to_builtins(d)
            row["received_at"] = iso(row.pop("received_at_us", None))
            body = str(row.get("body", ""))
            row["body_truncated"] = len(body) > body_chars
            row["body"] = body[:body_chars]
            items.append(DeliveryOut.model_validate(row))
        out = DeliveryList(
            deliveries=items, page=page_info(page.total, page.limit, offset, len(items))
        )
        if include_rejected:
            rej = await q.rejections(webhook_id, limit=limit, offset=0)
            out.rejected = [
                {**msgspec.to_builtins(r), "rejected_at": iso(r.rejected_at_us)} for r in rej.items
            ]
        return out
