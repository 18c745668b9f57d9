"""The relay's configuration, derived from the runner's auth settings.

What can be relayed: an Anthropic API key or bearer token (``ANTHROPIC_API_KEY`` /
``ANTHROPIC_AUTH_TOKEN``, to ``ANTHROPIC_BASE_URL`` or the default API), a long-lived OAuth
token (``CLAUDE_CODE_OAUTH_TOKEN`` from ``claude setup-token``) and the access token of an
existing ``claude login`` (``.credentials.json``). Bedrock and Vertex are not relayed: their
requests must be signed per request (SigV4, Google OAuth) and Bedrock streams a binary event
format; runs then get their cloud credentials as before, listed in ``exposed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from actors.relay.upstream import DEFAULT_UPSTREAM, Credential

CLOUD_SECRET_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_PROFILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


class RelaySettings(msgspec.Struct, frozen=True, kw_only=True):
    credential: Credential | None
    """``None``: runs are not relayed (see ``bypass_note``)."""
    upstream_url: str = DEFAULT_UPSTREAM
    host: str = "127.0.0.1"
    port: int = 0
    unix_path: Path | None = None
    """Also listen on this unix socket (for a sandbox with its own network namespace)."""
    max_concurrent: int = 8
    """Calls in flight to the upstream, service-wide (more wait their turn)."""
    max_retries: int = 4
    """429/529 retries at the relay, before the answer goes back to the CLI."""
    max_retry_wait: float = 60.0
    token_grace: float = 120.0
    """A token outlives its run's timeout by this much at most, even if nobody closes it."""
    scrub_environ: bool = False
    """Blank the model credential in this process's ``/proc/<pid>/environ`` once serving
    (``runner serve`` turns it on; see ``environ.py``)."""
    exposed: tuple[str, ...] = ()
    """Names of credential variables runs still receive (Bedrock/Vertex)."""
    bypass_note: str = ""


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in {"1", "true", "yes", "on"}


def relay_settings(
    auth_env: Mapping[str, str],
    claude_config_dir: Path | None,
    **overrides: object,
) -> RelaySettings:
    """What to relay with, from the runner's configured credentials."""
    cloud = (
        "Bedrock"
        if _truthy(auth_env.get("CLAUDE_CODE_USE_BEDROCK"))
        else "Vertex"
        if _truthy(auth_env.get("CLAUDE_CODE_USE_VERTEX"))
        else None
    )
    if cloud is not None:
        exposed = tuple(k for k in CLOUD_SECRET_VARS if auth_env.get(k))
        note = (
            f"{cloud} is not relayed: its requests are signed per call with the cloud "
            "credentials, so runs receive them (and budgets are checked after each run, not "
            "per call)."
        )
        base = RelaySettings(credential=None, exposed=exposed, bypass_note=note)
        return msgspec.structs.replace(base, **overrides)
    upstream = auth_env.get("ANTHROPIC_BASE_URL") or DEFAULT_UPSTREAM
    key, bearer = auth_env.get("ANTHROPIC_API_KEY"), auth_env.get("ANTHROPIC_AUTH_TOKEN")
    cred: Credential | None = None
    if key or bearer:
        cred = Credential(kind="api_key" if key else "auth_token", api_key=key, bearer=bearer)
    elif oauth := auth_env.get("CLAUDE_CODE_OAUTH_TOKEN"):
        cred = Credential(kind="oauth_token", bearer=oauth)
    elif claude_config_dir is not None and (claude_config_dir / ".credentials.json").is_file():
        cred = Credential(kind="claude_login", login_file=claude_config_dir / ".credentials.json")
    note = "" if cred else "No model credential is configured."
    base = RelaySettings(credential=cred, upstream_url=upstream, bypass_note=note)
    return msgspec.structs.replace(base, **overrides)
