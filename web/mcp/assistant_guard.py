"""What an assistant turn's credential may not do over ``/mcp``, and what it is not shown.

A turn acts as its user, but three things stay with the person: answering approvals (the
assistant would approve its own held calls), and secrets — a credential value or a webhook
secret passed through the model would be kept in clear text in the turn's recorded output and
its CLI transcript. Those are set and shown on their dashboard pages instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token

from actors.assistant_grants import CLIENT_PREFIX

SECRET_HIDDEN = (
    "(hidden from the assistant: open the webhook's page in the dashboard and use "
    "'Rotate secret' to be shown one)"
)
"""What an assistant sees instead of a webhook's new secret."""

REFUSALS: dict[str, str] = {
    "answer_approval": (
        "refused: the assistant may not answer approvals (its own or any run's); the user "
        "approves or denies in the conversation or on the Approvals page"
    ),
    "set_server_credential": (
        "refused: the assistant may not handle credentials (the value would be kept in the "
        "conversation); the user sets it on the tool server's page in the dashboard"
    ),
}
SECRET_ARGUMENT = (
    "refused: the assistant may not handle webhook secrets (the value would be kept in the "
    "conversation); leave 'secret' out to have one generated, or paste the provider's secret "
    "on the webhook's page in the dashboard"
)
SECRET_TOOLS = frozenset({"create_webhook", "rotate_webhook_secret"})


def assistant_caller() -> tuple[str, str] | None:
    """``(conversation id, run id)`` when an assistant turn's credential is calling."""
    tok = get_access_token()
    if tok is None or not tok.client_id.startswith(CLIENT_PREFIX):
        return None
    return tok.client_id[len(CLIENT_PREFIX) :], str((tok.claims or {}).get("run_id") or "")


def refusal(name: str, arguments: Mapping[str, Any]) -> str | None:
    """Why an assistant may not make this call, or ``None``."""
    if name in REFUSALS:
        return REFUSALS[name]
    if name in SECRET_TOOLS and arguments.get("secret"):
        return SECRET_ARGUMENT
    return None
