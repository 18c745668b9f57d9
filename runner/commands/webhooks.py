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

from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import new_id
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
from projections.queries import by_key
from runner.errors import Conflict, InvalidInput
from runner.queries import Queries
from runner.secrets import SecretBox, SecretDecryptError, webhook_context
from runner.webhooks.dedupe import dedupe_key
from runner.webhooks.deliveries import (
    Decision,
    decide_delivery,
    delivery_id_for,
    delivery_stream,
    hook_path,
    public_view,
    rejection_stream,
    run_id_for,
    webhook_stream,
)
from runner.webhooks.settings_input import CREATE_FIELDS, webhook_fields
from runner.webhooks.verify import SCHEMES, generate_secret, validate_secret

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
_UPDATE_FIELDS = CREATE_FIELDS - {"scheme", "secret"}


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


class WebhookCommands:
    """Commands on webhook endpoints, plus the secret cache the ingest path reads."""

    def __init__(
        self,
        store: Backend,
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
        settings = await self.q.settings()
        return webhook_fields(
            data,
            base,
            allowed_builtins=settings.allowed_builtin_tools,
            known_servers=await self.q.known_servers(),
        )

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
        unknown = set(data) - CREATE_FIELDS
        if unknown:
            raise InvalidInput(
                f"unknown webhook fields {sorted(unknown)}; "
                f"valid: {', '.join(sorted(CREATE_FIELDS))}"
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
        rows = await self.store.fetch(by_key("v_webhooks"), (webhook_id,))
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
