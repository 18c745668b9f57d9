"""Output shapes of the webhook and tool-server tools (pydantic, for precise output schemas).

The views they wrap belong to other modules (``runner.commands.webhooks.public_view``,
``ServerCommands.describe``); the models accept extra fields so a field added there reaches
the client instead of breaking the tool.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from web.mcp.models import PageInfo


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class WebhookOut(Open):
    """A webhook endpoint. Its secret is never shown again after create/rotate."""

    webhook_id: str
    name: str
    description: str = ""
    prompt_template: str
    scheme: str = Field(description="url_token | standard_webhooks | github | stripe")
    enabled: bool
    url: str = Field(
        description="where the provider POSTs; for url_token the secret is the last path part "
        "(masked except in the answer of create_webhook / rotate_webhook_secret)"
    )
    secret_hint: str
    secret: str | None = Field(
        default=None, description="clear-text secret: only right after create or rotate"
    )
    previous_secret_valid_until: float | None = None
    model: str | None = None
    tools: list[str] = []
    mcp_servers: list[str] = []
    timeout_seconds: float | None = None
    max_turns: int | None = None
    budget_usd: float | None = None
    rate_per_minute: float
    burst: int
    deliveries: int = 0
    rejections: int = 0
    last_delivery_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    warnings: list[str] = []


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    page: PageInfo


class WebhookDeleted(BaseModel):
    webhook_id: str
    deleted: bool


class DeliveryOut(Open):
    delivery_id: str
    webhook_id: str
    run_id: str = Field(description="the run this delivery started (see get_run)")
    received_at: str | None = None
    headers: dict[str, str] = Field(default={}, description="secret headers are masked")
    body: str = Field(default="", description="the body (first 2000 characters)")
    body_truncated: bool = False
    body_is_json: bool = False
    verification: str = ""
    source: str = ""
    replay_of: str | None = None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    page: PageInfo
    rejected: list[dict[str, Any]] | None = Field(
        default=None, description="refused deliveries (with include_rejected=true)"
    )


class ServerToolOut(Open):
    name: str
    id: str = Field(description="the name to give a job: mcp__<server>__<tool>")
    description: str = ""


class CredentialOut(Open):
    name: str
    description: str = ""
    required: bool = False
    sensitive: bool = True
    configured: bool = False
    masked: str | None = Field(
        default=None,
        description="for a sensitive variable '****' + at most its last 4 characters, never "
        "the value; for one the server declares non-sensitive, the value itself",
    )


class ServerOut(Open):
    """A tool server: whether jobs can use it, its tools and its credential status."""

    name: str
    kind: str = Field(description="dynamic (Python code) | external | builtin")
    description: str = ""
    enabled: bool
    status: str = Field(
        default="", description="disabled | needs_credentials | fails_to_start | starting | ready"
    )
    start_error: str | None = None
    tools: list[ServerToolOut] = []
    credentials: list[CredentialOut] = []
    missing_credentials: list[str] = []
    credentials_ok: bool = True
    invocations: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    code: str | None = None
    config: dict[str, Any] | None = None


class ServerList(BaseModel):
    servers: list[ServerOut]
    count: int


class ServerDeleted(BaseModel):
    name: str
    deleted: bool
    detached_from: list[str] = Field(
        default=[], description="with cascade: the jobs and webhooks it was removed from"
    )


class CredentialsOut(BaseModel):
    server: str
    credentials: list[CredentialOut]
    missing_credentials: list[str]
    credentials_ok: bool
    deleted: str | None = None


class EnvVarOut(BaseModel):
    name: str
    description: str = ""
    required: bool = True
    sensitive: bool = False


class RequiredCredentials(BaseModel):
    server: str
    env_vars: list[EnvVarOut]


class UnconfiguredOut(BaseModel):
    name: str
    kind: str
    enabled: bool
    missing_credentials: list[str]


class UnconfiguredList(BaseModel):
    unconfigured_servers: list[UnconfiguredOut]
    count: int


class InvocationOut(Open):
    """One tool call's outcome; the server's secrets are redacted from every string."""

    tool: str
    warnings: list[str] = []
    ok: bool = Field(description="false when the server failed or the tool reported an error")
    is_error: bool = False
    text: str = ""
    structured: Any = None
    error: str | None = None
    duration_ms: int = 0
