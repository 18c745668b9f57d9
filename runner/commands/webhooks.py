"""Webhook commands: create, update, enable, disable, rotate the secret, delete, replay.

Also the pure *decision* of the ingest pipeline (:func:`decide_delivery`): which ids a verified
delivery gets and which event records it. Ids are derived, never random, wherever a duplicate must
be impossible: the delivery id from the dedupe key, the run id from the delivery id.

Secrets are sealed with :class:`~runner.secrets.SecretBox` bound to the webhook's context and are
returned in clear text exactly once, by :meth:`WebhookCommands.create` and
:meth:`WebhookCommands.rotate_secret`. Opened secrets are kept in a short-lived in-memory cache for
the ingest path (:meth:`WebhookCommands.entry`); this process's own commands invalidate it at once,
changes made by another process are seen after at most :data:`CACHE_TTL` seconds.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from actors.templates import validate_template
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import derived_id, new_id
from events.runs import RunSpec
from events.sqlite_store import SQLiteEventStore
from events.webhooks import (
    SealedSecret,
    VerificationScheme,
    WebhookCreated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookEnabled,
    WebhookReceived,
    WebhookSecretRotated,
    WebhookUpdated,
)
from projections import DeliveryView, WebhookView
from runner.errors import Conflict, InvalidInput
from runner.jobs_input import build_spec, validate_tools
from runner.queries import Queries
from runner.secrets import SecretBox, SecretDecryptError, webhook_context
from runner.webhooks.dedupe import DeliveryId, dedupe_key
from runner.webhooks.verify import SCHEMES, Verification, generate_secret, validate_secret

if TYPE_CHECKING:
    from runner.app import Runner

__all__ = [
    "CACHE_TTL",
    "DEFAULT_GRACE_SECONDS",
    "MAX_GRACE_SECONDS",
    "Decision",
    "HookEntry",
    "WebhookCommands",
    "decide_delivery",
    "delivery_id_for",
    "delivery_stream",
    "for_runner",
    "hook_path",
    "public_view",
    "rejection_stream",
    "run_id_for",
    "webhook_stream",
]

DEFAULT_GRACE_SECONDS = 24 * 3600.0
MAX_GRACE_SECONDS = 30 * 24 * 3600.0
CACHE_TTL = 2.0
MAX_RATE_PER_MINUTE = 100_000.0
MAX_BURST = 10_000
_CREATE_FIELDS = frozenset(
    {
        "name",
        "prompt_template",
        "description",
        "tools",
        "mcp_servers",
        "model",
        "timeout_seconds",
        "max_turns",
        "budget_usd",
        "scheme",
        "secret",
        "rate_per_minute",
        "burst",
    }
)
_UPDATE_FIELDS = _CREATE_FIELDS - {"scheme", "secret"}


def webhook_stream(webhook_id: str) -> str:
    return f"webhook-{webhook_id}"


def delivery_stream(key: str) -> str:
    """The stream of one delivery, keyed by its dedupe key: it can only ever be created once."""
    return f"delivery-{key}"


def rejection_stream(webhook_id: str) -> str:
    """Rejections get their own stream so they never move the webhook stream's version."""
    return f"webhook-rejections-{webhook_id}"


def delivery_id_for(key: str) -> str:
    return derived_id("dlv", key)


def run_id_for(delivery_id: str) -> str:
    """The one run a delivery can ever start."""
    return derived_id("run", "webhook", delivery_id)


def hook_path(webhook_id: str, scheme: str, token: str | None = None) -> str:
    """The path a provider posts to; for ``url_token`` the token (or its mask) is the last part."""
    if scheme != "url_token":
        return f"/hooks/{webhook_id}"
    return f"/hooks/{webhook_id}/{token if token is not None else '<token>'}"


def public_view(hook: WebhookView) -> dict[str, Any]:
    """What the API and dashboard show of a webhook: never the secret or its ciphertext."""
    shown = f"****{hook.secret.hint}" if hook.secret.hint else "****"
    return {
        "webhook_id": hook.webhook_id,
        "name": hook.name,
        "description": hook.description,
        "prompt_template": hook.prompt_template,
        "scheme": hook.scheme,
        "enabled": hook.enabled,
        "path": hook_path(hook.webhook_id, hook.scheme, shown),
        "secret_hint": shown,
        "previous_secret_valid_until": hook.previous_valid_until,
        "model": hook.spec.model,
        "tools": list(hook.spec.tools),
        "mcp_servers": list(hook.spec.mcp_servers),
        "timeout_seconds": hook.spec.timeout_seconds,
        "max_turns": hook.spec.max_turns,
        "budget_usd": hook.spec.budget_usd,
        "rate_per_minute": hook.rate_per_minute,
        "burst": hook.burst,
        "deliveries": hook.deliveries,
        "rejections": hook.rejections,
        "last_delivery_at_us": hook.last_delivery_at_us,
        "created_at_us": hook.created_at_us,
        "updated_at_us": hook.updated_at_us,
    }


# --- the ingest decision -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a verified delivery goes: its stream (created at most once) and its event."""

    stream: str
    event: WebhookReceived

    @property
    def delivery_id(self) -> str:
        return self.event.delivery_id

    @property
    def run_id(self) -> str:
        return self.event.run_id


def _body_text(body: bytes) -> tuple[str, bool]:
    text = body.decode("utf-8", "replace")
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return text, False
    return text, True


def decide_delivery(
    hook: WebhookView,
    *,
    body: bytes,
    masked_headers: dict[str, str],
    verification: Verification,
    provider_id: DeliveryId | None,
    source: str = "",
) -> Decision:
    """The ``WebhookReceived`` for a verified delivery. Pure: the same provider id always gives
    the same stream, delivery id and run id, so a duplicate can only collide, never add."""
    key = dedupe_key(hook.webhook_id, provider_id)
    delivery_id = delivery_id_for(key)
    text, is_json = _body_text(body)
    how = f"{verification.scheme}:ok"
    if verification.secret_index:
        how += ":previous_secret"
    event = WebhookReceived(
        webhook_id=hook.webhook_id,
        delivery_id=delivery_id,
        dedupe_key=key,
        run_id=run_id_for(delivery_id),
        headers=masked_headers,
        body=text,
        body_is_json=is_json,
        verification=how,
        source=source,
    )
    return Decision(stream=delivery_stream(key), event=event)


# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookEntry:
    """A webhook as the ingest path needs it: its view and its opened secrets."""

    hook: WebhookView
    current: str
    previous: str | None
    previous_valid_until: float | None
    loaded_at: float

    def secrets(self, now: float) -> list[str]:
        """The secrets that verify right now, newest first."""
        out = [self.current]
        if self.previous and self.previous_valid_until and now < self.previous_valid_until:
            out.append(self.previous)
        return out


def _num(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{key} must be a number, got {value!r}", field=key)
    if num != num or num in (float("inf"), float("-inf")):
        raise InvalidInput(f"{key} must be a finite number", field=key)
    return num


class WebhookCommands:
    """Commands on webhook endpoints, plus the secret cache the ingest path reads."""

    def __init__(
        self,
        store: SQLiteEventStore,
        queries: Queries,
        box: SecretBox,
        *,
        clock: Callable[[], float] = time.time,
        cache_ttl: float = CACHE_TTL,
        reload_box: Callable[[], SecretBox] | None = None,
    ) -> None:
        self.store = store
        self.q = queries
        self.box = box
        self._reload_box = reload_box
        self.clock = clock
        self.cache_ttl = cache_ttl
        self._cache: dict[str, HookEntry | None] = {}
        self._cache_at: dict[str, float] = {}

    # -- validation --------------------------------------------------------------------------

    async def _settings_fields(
        self, data: Mapping[str, Any], base: WebhookView | None
    ) -> tuple[dict[str, Any], list[str]]:
        merged: dict[str, Any] = {}
        if base is not None:
            merged = {
                "name": base.name,
                "prompt_template": base.prompt_template,
                "description": base.description,
                "tools": list(base.spec.tools),
                "mcp_servers": list(base.spec.mcp_servers),
                "model": base.spec.model,
                "timeout_seconds": base.spec.timeout_seconds,
                "max_turns": base.spec.max_turns,
                "budget_usd": base.spec.budget_usd,
                "rate_per_minute": base.rate_per_minute,
                "burst": base.burst,
            }
        merged.update(data)
        template = merged.get("prompt_template")
        if not isinstance(template, str):
            raise InvalidInput("prompt_template is required", field="prompt_template")
        problems = validate_template(template)
        if problems:
            raise InvalidInput("; ".join(problems), field="prompt_template")
        spec = build_spec(
            {
                "name": merged.get("name"),
                "prompt": template,
                "tools": merged.get("tools"),
                "mcp_servers": merged.get("mcp_servers"),
                "model": merged.get("model"),
                "timeout_seconds": merged.get("timeout_seconds"),
                "max_turns": merged.get("max_turns"),
                "budget_usd": merged.get("budget_usd"),
            }
        )
        settings = await self.q.settings()
        tools, servers, warnings = validate_tools(
            spec.tools,
            spec.mcp_servers,
            allowed_builtins=settings.allowed_builtin_tools,
            known_servers=await self.q.known_servers(),
        )
        rate = _num(merged, "rate_per_minute", 60.0)
        if not 0 < rate <= MAX_RATE_PER_MINUTE:
            raise InvalidInput(
                f"rate_per_minute must be > 0 and at most {MAX_RATE_PER_MINUTE:.0f}",
                field="rate_per_minute",
            )
        burst = _num(merged, "burst", 20)
        if burst != int(burst) or not 1 <= burst <= MAX_BURST:
            raise InvalidInput(f"burst must be a whole number 1-{MAX_BURST}", field="burst")
        description = str(merged.get("description") or "")
        if len(description) > 2000:
            raise InvalidInput("description is longer than 2000 characters", field="description")
        fields = {
            "name": spec.name,
            "prompt_template": template,
            "description": description,
            "spec": RunSpec(
                prompt=template,
                model=spec.model,
                tools=tools,
                mcp_servers=servers,
                timeout_seconds=spec.timeout_seconds,
                max_turns=spec.max_turns,
                budget_usd=spec.budget_usd,
            ),
            "rate_per_minute": rate,
            "burst": int(burst),
        }
        return fields, warnings

    async def _check_name(self, name: str, webhook_id: str | None) -> None:
        for other in await self.q.webhooks():
            if other.name == name and other.webhook_id != webhook_id:
                raise Conflict(
                    f"a webhook named {name!r} already exists ({other.webhook_id}); "
                    "choose another name",
                    field="name",
                )

    def _new_secret(self, scheme: VerificationScheme, given: Any) -> str:
        if given is None or given == "":
            return generate_secret(scheme)
        if not isinstance(given, str):
            raise InvalidInput("secret must be a string", field="secret")
        problems = validate_secret(scheme, given)
        if problems:
            raise InvalidInput("; ".join(problems), field="secret")
        return given

    def _seal(self, webhook_id: str, secret: str) -> SealedSecret:
        return self.box.seal(secret, context=webhook_context(webhook_id), show_hint=True)

    # -- commands ----------------------------------------------------------------------------

    async def create(
        self, data: Mapping[str, Any], *, actor: str = "user"
    ) -> tuple[WebhookView, str, list[str]]:
        """Create a webhook. Returns it, its secret in clear text (shown this once) and warnings.

        ``scheme`` is one of url_token (default), standard_webhooks, github, stripe; ``secret``
        may be given (e.g. pasted from GitHub or Stripe), otherwise a fresh one is generated.
        """
        unknown = set(data) - _CREATE_FIELDS
        if unknown:
            raise InvalidInput(
                f"unknown webhook fields {sorted(unknown)}; "
                f"valid: {', '.join(sorted(_CREATE_FIELDS))}"
            )
        scheme = data.get("scheme") or "url_token"
        if scheme not in SCHEMES:
            raise InvalidInput(f"scheme must be one of {', '.join(SCHEMES)}", field="scheme")
        fields, warnings = await self._settings_fields(data, None)
        await self._check_name(fields["name"], None)
        secret = self._new_secret(scheme, data.get("secret"))
        webhook_id = new_id("wh")
        await self.store.append(
            webhook_stream(webhook_id),
            [
                WebhookCreated(
                    webhook_id=webhook_id,
                    scheme=scheme,
                    secret=self._seal(webhook_id, secret),
                    **fields,
                )
            ],
            expected="no_stream",
            meta=Meta(actor=actor),
        )
        self.invalidate(webhook_id)
        return await self.q.webhook(webhook_id), secret, warnings

    async def update(
        self, webhook_id: str, data: Mapping[str, Any], *, actor: str = "user"
    ) -> tuple[WebhookView, list[str]]:
        """Change name, template, run settings or limits (not the scheme or the secret)."""
        if not data:
            raise InvalidInput("nothing to update: give at least one field")
        unknown = set(data) - _UPDATE_FIELDS
        if unknown:
            hint = " (use rotate-secret for the secret)" if unknown & {"secret", "scheme"} else ""
            raise InvalidInput(
                f"fields {sorted(unknown)} cannot be updated{hint}; valid: "
                f"{', '.join(sorted(_UPDATE_FIELDS))}"
            )
        hook = await self.q.webhook(webhook_id)
        fields, warnings = await self._settings_fields(data, hook)
        await self._check_name(fields["name"], webhook_id)
        await self._append(webhook_id, WebhookUpdated(webhook_id=webhook_id, **fields), actor)
        return await self.q.webhook(webhook_id), warnings

    async def enable(self, webhook_id: str, *, actor: str = "user") -> WebhookView:
        hook = await self.q.webhook(webhook_id)
        if not hook.enabled:
            await self._append(webhook_id, WebhookEnabled(webhook_id=webhook_id), actor)
        return await self.q.webhook(webhook_id)

    async def disable(self, webhook_id: str, *, actor: str = "user") -> WebhookView:
        """A disabled webhook answers 404, so providers keep retrying until it is enabled."""
        hook = await self.q.webhook(webhook_id)
        if hook.enabled:
            await self._append(webhook_id, WebhookDisabled(webhook_id=webhook_id), actor)
        return await self.q.webhook(webhook_id)

    async def rotate_secret(
        self,
        webhook_id: str,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        secret: str | None = None,
        actor: str = "user",
    ) -> tuple[WebhookView, str]:
        """Replace the secret; the old one keeps verifying for ``grace_seconds`` (0: revoke now).

        Returns the webhook and the new secret in clear text (shown this once)."""
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise InvalidInput(
                f"grace_seconds must be between 0 and {MAX_GRACE_SECONDS:.0f} (30 days)",
                field="grace_seconds",
            )
        hook = await self.q.webhook(webhook_id)
        scheme: VerificationScheme = hook.scheme  # type: ignore[assignment]
        new_secret = self._new_secret(scheme, secret)
        await self._append(
            webhook_id,
            WebhookSecretRotated(
                webhook_id=webhook_id,
                secret=self._seal(webhook_id, new_secret),
                previous_valid_until=self.clock() + grace_seconds,
            ),
            actor,
        )
        return await self.q.webhook(webhook_id), new_secret

    async def delete(self, webhook_id: str, *, actor: str = "user") -> None:
        """Delete the endpoint (it answers 404 from now on); its deliveries stay in the log."""
        await self.q.webhook(webhook_id)
        await self._append(webhook_id, WebhookDeleted(webhook_id=webhook_id), actor)

    async def replay(self, delivery_id: str, *, actor: str = "user") -> DeliveryView:
        """Deliver a stored delivery again: a new delivery marked ``replay_of`` and a new run."""
        original = await self.q.delivery(delivery_id)
        await self.q.webhook(original.webhook_id)
        key = dedupe_key(original.webhook_id, None)
        new_delivery = delivery_id_for(key)
        event = WebhookReceived(
            webhook_id=original.webhook_id,
            delivery_id=new_delivery,
            dedupe_key=key,
            run_id=run_id_for(new_delivery),
            headers=original.headers,
            body=original.body,
            body_is_json=original.body_is_json,
            verification=f"replay:{actor}",
            source=original.source,
            replay_of=original.delivery_id,
        )
        await self.store.append(
            delivery_stream(key), [event], expected="no_stream", meta=Meta(actor=actor)
        )
        return await self.q.delivery(new_delivery)

    async def _append(self, webhook_id: str, event: Any, actor: str) -> None:
        try:
            await self.store.append(
                webhook_stream(webhook_id), [event], expected="exists", meta=Meta(actor=actor)
            )
        except ConcurrencyError:
            raise Conflict(f"webhook {webhook_id} no longer exists")
        finally:
            self.invalidate(webhook_id)

    # -- the ingest path's view --------------------------------------------------------------

    def _open(self, webhook_id: str, sealed: SealedSecret) -> str:
        """Open a secret; reload the keyring once when another process rotated the key."""
        ctx = webhook_context(webhook_id)
        try:
            return self.box.open(sealed, context=ctx)
        except SecretDecryptError:
            if self._reload_box is None or self.box.keyring.get(sealed.key_id) is not None:
                raise
            self.box = self._reload_box()
            return self.box.open(sealed, context=ctx)

    def invalidate(self, webhook_id: str | None = None) -> None:
        """Forget cached secrets (of one webhook, or all)."""
        if webhook_id is None:
            self._cache.clear()
            self._cache_at.clear()
        else:
            self._cache.pop(webhook_id, None)
            self._cache_at.pop(webhook_id, None)

    async def entry(self, webhook_id: str) -> HookEntry | None:
        """The webhook with its opened secrets, or None when unknown (cached briefly)."""
        now = time.monotonic()
        at = self._cache_at.get(webhook_id)
        if at is not None and now - at < self.cache_ttl:
            return self._cache[webhook_id]
        if len(webhook_id) > 100 or not webhook_id.isprintable():
            return None
        found: WebhookView | None
        rows = await self.store.query("SELECT doc FROM v_webhooks WHERE k = ?", (webhook_id,))
        found = msgspec.json.decode(rows[0][0], type=WebhookView) if rows else None
        entry: HookEntry | None = None
        if found is not None:
            previous = None
            if found.previous_secret is not None:
                previous = self._open(webhook_id, found.previous_secret)
            entry = HookEntry(
                hook=found,
                current=self._open(webhook_id, found.secret),
                previous=previous,
                previous_valid_until=found.previous_valid_until,
                loaded_at=now,
            )
        if len(self._cache) > 10_000:
            self.invalidate()
        self._cache[webhook_id] = entry
        self._cache_at[webhook_id] = now
        return entry


_per_runner: weakref.WeakKeyDictionary[Runner, WebhookCommands] = weakref.WeakKeyDictionary()


def for_runner(runner: Runner) -> WebhookCommands:
    """The one :class:`WebhookCommands` of *runner* (sharing its secret cache), created on first
    use with the runner's keyring (``RUNNER_SECRET_KEY`` or ``<data_dir>/secret.key``)."""
    found = _per_runner.get(runner)
    if found is None:
        found = _per_runner[runner] = WebhookCommands(
            runner.store, runner.queries, runner.secret_box(), reload_box=runner.secret_box
        )
    return found
