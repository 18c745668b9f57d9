"""``runner webhooks ...``: list, show, create, update, enable, disable, rotate-secret, delete,
deliveries, rejections, replay.

A secret is never taken as a command-line argument (every local user can read those in ``ps``):
``--secret-stdin`` reads a pasted one from stdin, or prompts without echo. The clear-text secret
is printed exactly twice in a webhook's life: by ``create`` and by ``rotate-secret``.
A webhook is named by its id or by its exact name.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from projections import DeliveryView, WebhookView
from projections.queries import runs as run_queries
from runner.app import Runner
from runner.commands.webhooks import DEFAULT_GRACE_SECONDS, for_runner, hook_path, public_view
from runner.errors import InvalidInput, NotFound

__all__ = ["add_webhook_commands"]

LIST_BODY_CHARS = 4096
"""Bodies in a deliveries listing are cut here; ``deliveries WEBHOOK DELIVERY`` shows it whole."""
SECRET_NOTICE = "shown once: store it now, it cannot be displayed again"
_SETTINGS = (
    "name",
    "prompt_template",
    "description",
    "model",
    "timeout_seconds",
    "max_turns",
    "budget_usd",
    "node_label",
    "rate_per_minute",
    "burst",
)


def _print(data: Any) -> None:
    print(json.dumps(msgspec.to_builtins(data), indent=2, ensure_ascii=False, default=str))


def _base_url(r: Runner) -> str:
    return r.config.public_origin


def _view(r: Runner, hook: WebhookView, secret: str | None = None) -> dict[str, Any]:
    out = public_view(hook)
    if secret is not None:
        out["secret"] = secret
        out["secret_notice"] = SECRET_NOTICE
        if hook.scheme == "url_token":
            out["path"] = hook_path(hook.webhook_id, hook.scheme, secret)
    out["url"] = _base_url(r) + out["path"]
    return out


async def _resolve(r: Runner, ref: str) -> WebhookView:
    """The webhook with id *ref*, or else the one named exactly *ref*."""
    try:
        return await r.queries.webhook(ref)
    except NotFound:
        for hook in await r.queries.webhooks():
            if hook.name == ref:
                return hook
        raise


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.read().rstrip("\r\n")


def _read_template(a: argparse.Namespace) -> str | None:
    path: str | None = getattr(a, "prompt_template_file", None)
    if path is None:
        given: str | None = getattr(a, "prompt_template", None)
        return given
    if path == "-" and getattr(a, "secret_stdin", False):
        raise InvalidInput("stdin cannot carry both the template and the secret", field="secret")
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="prompt_template") from None


def _fields(a: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in _SETTINGS:
        value = getattr(a, key, None)
        if value is not None:
            data[key] = value
    template = _read_template(a)
    if template is not None:
        data["prompt_template"] = template
    for key in ("tools", "mcp_servers"):
        value = getattr(a, key, None)
        if value is not None:
            data[key] = [v.strip() for v in value.split(",") if v.strip()]
    return data


def _warned(out: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    if warnings:
        out["warnings"] = warnings
    return out


async def _list(r: Runner, a: argparse.Namespace) -> int:
    keys = ("webhook_id", "name", "scheme", "enabled", "deliveries", "rejections")
    rows = []
    for hook in await r.queries.webhooks():
        view = public_view(hook)
        rows.append({k: view[k] for k in keys} | {"last_delivery_at_us": hook.last_delivery_at_us})
    _print(rows)
    return 0


async def _show(r: Runner, a: argparse.Namespace) -> int:
    _print(_view(r, await _resolve(r, a.webhook)))
    return 0


async def _create(r: Runner, a: argparse.Namespace) -> int:
    data = _fields(a)
    data["scheme"] = a.scheme
    if a.secret_stdin:
        data["secret"] = _read_secret("webhook secret (not shown): ")
    hook, secret, warnings = await for_runner(r).create(data, actor="cli")
    _print(_warned(_view(r, hook, secret), warnings))
    return 0


async def _update(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    hook, warnings = await for_runner(r).update(hook.webhook_id, _fields(a), actor="cli")
    _print(_warned(_view(r, hook), warnings))
    return 0


async def _enable(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    _print(_view(r, await for_runner(r).enable(hook.webhook_id, actor="cli")))
    return 0


async def _disable(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    _print(_view(r, await for_runner(r).disable(hook.webhook_id, actor="cli")))
    return 0


async def _rotate(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    given = _read_secret("new webhook secret (not shown): ") if a.secret_stdin else None
    hook, secret = await for_runner(r).rotate_secret(
        hook.webhook_id, grace_seconds=a.grace_seconds, secret=given, actor="cli"
    )
    _print(_view(r, hook, secret))
    return 0


async def _delete(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    await for_runner(r).delete(hook.webhook_id, actor="cli")
    _print({"deleted": hook.webhook_id, "name": hook.name})
    return 0


async def _run_states(r: Runner, run_ids: list[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    rows = await r.store.fetch(*run_queries.states_of(run_ids))
    return {str(row[0]): str(row[1]) for row in rows}


def _delivery(d: DeliveryView, state: str, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(d)
    out.pop("dedupe_key", None)
    out["run_state"] = state
    out["body_chars"] = len(d.body)
    out["body_truncated"] = not full and len(d.body) > LIST_BODY_CHARS
    if out["body_truncated"]:
        out["body"] = d.body[:LIST_BODY_CHARS]
    return out


async def _deliveries(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    if a.delivery:
        found = await r.queries.delivery(a.delivery)
        if found.webhook_id != hook.webhook_id:
            raise NotFound(f"webhook {hook.webhook_id} has no delivery {a.delivery!r}")
        states = await _run_states(r, [found.run_id])
        _print(_delivery(found, states.get(found.run_id, "pending"), full=True))
        return 0
    page = await r.queries.deliveries(hook.webhook_id, limit=a.limit, offset=a.offset)
    states = await _run_states(r, [d.run_id for d in page.items])
    items = [_delivery(d, states.get(d.run_id, "pending"), full=False) for d in page.items]
    _print(
        {
            "items": items,
            "limit": page.limit,
            "offset": page.offset,
            "total": page.total,
            "has_more": page.has_more,
        }
    )
    return 0


async def _rejections(r: Runner, a: argparse.Namespace) -> int:
    hook = await _resolve(r, a.webhook)
    page = await r.queries.rejections(hook.webhook_id, limit=a.limit, offset=a.offset)
    _print(
        {
            "items": page.items,
            "limit": page.limit,
            "offset": page.offset,
            "total": page.total,
            "has_more": page.has_more,
        }
    )
    return 0


async def _replay(r: Runner, a: argparse.Namespace) -> int:
    new = await for_runner(r).replay(a.delivery, actor="cli")
    _print(
        {
            "delivery_id": new.delivery_id,
            "run_id": new.run_id,
            "replay_of": new.replay_of,
            "webhook_id": new.webhook_id,
        }
    )
    return 0


def _settings_options(p: argparse.ArgumentParser, *, create: bool) -> None:
    p.add_argument("--name", required=create, help="webhook name (at most 200 characters)")
    tpl = p.add_mutually_exclusive_group(required=create)
    tpl.add_argument(
        "--prompt-template",
        dest="prompt_template",
        help='e.g. "Triage {{payload.issue.title}}" (see docs/webhooks.md)',
    )
    tpl.add_argument(
        "--prompt-template-file",
        dest="prompt_template_file",
        metavar="PATH",
        help="read the template from a file ('-' for stdin)",
    )
    p.add_argument("--description")
    p.add_argument("--tools", help="comma-separated built-in tools and mcp__server__tool names")
    p.add_argument("--mcp-servers", dest="mcp_servers", help="comma-separated server names")
    p.add_argument("--model")
    p.add_argument("--timeout-seconds", dest="timeout_seconds", type=float)
    p.add_argument("--max-turns", dest="max_turns", type=int)
    p.add_argument("--budget-usd", dest="budget_usd", type=float)
    p.add_argument(
        "--node-label", dest="node_label", help="run only on nodes with this label ('' unpins)"
    )
    p.add_argument(
        "--rate-per-minute", dest="rate_per_minute", type=float, help="token bucket (default 60)"
    )
    p.add_argument("--burst", type=int, help="token bucket size (default 20)")


def _page_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=50, help="at most 200 (default 50)")
    p.add_argument("--offset", type=int, default=0)


def add_webhook_commands(sub: Any) -> None:
    """Register ``webhooks`` on the ``runner`` parser."""
    hooks = sub.add_parser("webhooks", help="webhook endpoints, their deliveries and replays")
    wsub = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    p = wsub.add_parser("list", help="every webhook with its delivery counts")
    p.set_defaults(handler=_list)
    p = wsub.add_parser("show", help="one webhook (secret masked)")
    p.add_argument("webhook", help="id or exact name")
    p.set_defaults(handler=_show)
    p = wsub.add_parser("create", help="create a webhook; prints its secret and URL once")
    _settings_options(p, create=True)
    p.add_argument(
        "--scheme",
        choices=["url_token", "standard_webhooks", "github", "stripe"],
        default="url_token",
        help="how deliveries are verified (default url_token)",
    )
    p.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the secret (e.g. pasted from GitHub) from stdin instead of generating one",
    )
    p.set_defaults(handler=_create)
    p = wsub.add_parser("update", help="change name, template, run settings or limits")
    p.add_argument("webhook", help="id or exact name")
    _settings_options(p, create=False)
    p.set_defaults(handler=_update)
    for action, handler, text in (
        ("enable", _enable, "accept deliveries again"),
        ("disable", _disable, "answer 404 (providers keep retrying) until enabled"),
        ("delete", _delete, "delete the endpoint (its deliveries stay in the log)"),
    ):
        p = wsub.add_parser(action, help=text)
        p.add_argument("webhook", help="id or exact name")
        p.set_defaults(handler=handler)
    p = wsub.add_parser(
        "rotate-secret", help="new secret (printed once); the old one verifies for a grace period"
    )
    p.add_argument("webhook", help="id or exact name")
    p.add_argument(
        "--grace-seconds",
        dest="grace_seconds",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help="how long the old secret keeps verifying (default 86400; 0 revokes it now)",
    )
    p.add_argument("--secret-stdin", action="store_true", help="read the new secret from stdin")
    p.set_defaults(handler=_rotate)
    p = wsub.add_parser("deliveries", help="a webhook's deliveries, or one delivery in full")
    p.add_argument("webhook", help="id or exact name")
    p.add_argument("delivery", nargs="?", help="a delivery id: show it whole")
    _page_options(p)
    p.set_defaults(handler=_deliveries)
    p = wsub.add_parser("rejections", help="a webhook's rejected deliveries")
    p.add_argument("webhook", help="id or exact name")
    _page_options(p)
    p.set_defaults(handler=_rejections)
    p = wsub.add_parser("replay", help="deliver a stored delivery again (a new delivery and run)")
    p.add_argument("delivery", help="delivery id")
    p.set_defaults(handler=_replay)
