"""Credential commands: per server and variable, sealed with AES-GCM, never shown in clear text.

A credential is ``CredentialSet(server, variable, secret=SealedSecret)`` on the server's stream
``server-<name>``; the ciphertext is bound to ``credential_context(server, variable)``. Reads
return :class:`CredentialInfo` with a masked value (at most the last 4 characters of a
sensitive value). Only :meth:`CredentialCommands.values` returns clear text, for the code that
starts the server's own process (resolver, discovery, invocation).

Whether a variable is sensitive is the server's declaration (its ``env`` specs, detected from its
code or config, or declared by its author), never the caller's wish at the moment of setting: a
caller may mark a value sensitive, never make a declared-sensitive variable non-sensitive. A
value is shown again only when the variable is declared non-sensitive *and* the value was stored
as non-sensitive (:func:`is_secret`), so a later change of the declaration never reveals a value
stored as a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.servers import CredentialDeleted, CredentialSet, EnvVarSpec, SecretKeyRotated
from events.webhooks import SealedSecret, WebhookSecretRotated
from projections import CredentialView, ServerView
from runner.errors import Conflict, InvalidInput, NotFound
from runner.queries import Queries
from runner.secrets import (
    SecretBox,
    SecretDecryptError,
    credential_context,
    mask,
    webhook_context,
)
from runner.servers.code import is_reserved_env, is_sensitive

__all__ = [
    "MAX_VALUE_CHARS",
    "CredentialCommands",
    "CredentialInfo",
    "is_secret",
    "reseal_all",
    "sealed_key_ids",
    "server_stream",
]

MAX_VALUE_CHARS = 64 * 1024


def server_stream(name: str) -> str:
    """The stream of one tool server (its definition, state and credentials)."""
    return f"server-{name}"


def is_secret(spec: EnvVarSpec | None, cred: CredentialView | None) -> bool:
    """True unless both the declaration and the stored value say non-sensitive (a variable
    without a declaration is a secret)."""
    declared = True if spec is None else spec.sensitive
    stored = False if cred is None else cred.sensitive
    return declared or stored


class CredentialInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What may be shown about one variable of a server: never its clear-text secret."""

    name: str
    description: str = ""
    required: bool = False
    sensitive: bool = True
    configured: bool = False
    masked: str | None = None
    """``****`` plus at most the last 4 characters of a sensitive value (none below 12
    characters); the value itself only when the variable is declared non-sensitive and was
    stored so."""
    declared: bool = True
    """False for a stored credential the server no longer declares."""


class CredentialCommands:
    """Set, delete and read (masked) the credentials of tool servers."""

    def __init__(
        self,
        store: Backend,
        queries: Queries,
        box: SecretBox,
        *,
        reload_box: Callable[[], SecretBox] | None = None,
    ) -> None:
        self.store = store
        self.q = queries
        self.box = box
        self._reload_box = reload_box

    # -- sealing -----------------------------------------------------------------------------

    def open(self, cred: CredentialView) -> str:
        """Clear text of a stored credential. Reloads the keyring once when the value was sealed
        under a key this process does not know yet (another process rotated the key)."""
        ctx = credential_context(cred.server, cred.variable)
        try:
            return self.box.open(cred.secret, context=ctx)
        except SecretDecryptError:
            if self._reload_box is None or self.box.keyring.get(cred.secret.key_id) is not None:
                raise
            self.box = self._reload_box()
            return self.box.open(cred.secret, context=ctx)

    def seal(self, server: str, variable: str, value: str, sensitive: bool) -> SealedSecret:
        """Seal under the *current* key: the keyring is re-read first, so a key rotated by
        another process (``runner secrets rotate-key``) is used at once, never a retired one."""
        if self._reload_box is not None:
            self.box = self._reload_box()
        return self.box.seal(
            value, context=credential_context(server, variable), show_hint=sensitive
        )

    # -- reads -------------------------------------------------------------------------------

    async def values(self, server: str) -> dict[str, str]:
        """Decrypted credentials of ``server`` (variable -> value). Internal use only: give them
        to that server's process and to the redactor, nowhere else."""
        return {c.variable: self.open(c) for c in await self.q.credentials(server)}

    async def show(self, server: str) -> list[CredentialInfo]:
        """Every declared variable of ``server`` plus stored extras, with masked values."""
        srv = await self.q.server(server)
        return self.describe(srv, await self.q.credentials(server))

    def describe(self, srv: ServerView, creds: Iterable[CredentialView]) -> list[CredentialInfo]:
        stored = {c.variable: c for c in creds}
        out: list[CredentialInfo] = []
        for spec in srv.env:
            cred = stored.pop(spec.name, None)
            out.append(self._info(spec, cred))
        for name, cred in sorted(stored.items()):
            spec = EnvVarSpec(name=name, required=False, sensitive=True)  # undeclared: secret
            out.append(msgspec.structs.replace(self._info(spec, cred), declared=False))
        return out

    def _info(self, spec: EnvVarSpec, cred: CredentialView | None) -> CredentialInfo:
        sensitive = is_secret(spec, cred)
        shown: str | None = None
        if cred is not None:
            if sensitive:
                shown = "****" + cred.secret.hint if cred.secret.hint else "****"
            else:
                try:
                    shown = mask(self.open(cred), sensitive=False)
                except SecretDecryptError:
                    shown = "****"
        return CredentialInfo(
            name=spec.name,
            description=spec.description,
            required=spec.required,
            sensitive=sensitive,
            configured=cred is not None,
            masked=shown,
        )

    # -- commands ----------------------------------------------------------------------------

    async def set(
        self,
        server: str,
        variable: str,
        value: object,
        *,
        sensitive: bool | None = None,
        actor: str = "user",
    ) -> CredentialInfo:
        """Store ``value`` encrypted for ``server``/``variable``.

        The variable must be one the server declares (detected in its code, declared, or a
        ``${VAR}`` of an external config). Its sensitivity is the declaration's: ``sensitive=True``
        may mark a declared non-sensitive value secret; ``sensitive=False`` for a variable
        declared sensitive is refused (it would make the value readable again).
        """
        srv = await self.q.server(server)
        spec = self._spec(srv, variable)
        if sensitive is not None and not isinstance(sensitive, bool):
            raise InvalidInput("sensitive must be true or false", field="sensitive")
        if sensitive is False and spec.sensitive:
            raise InvalidInput(
                f"{variable} is declared sensitive by server {server!r}: its value is never shown "
                "again and cannot be marked non-sensitive here (leave 'sensitive' out)",
                field="sensitive",
            )
        text = self._value(value)
        flag = spec.sensitive or bool(sensitive)
        event = CredentialSet(
            server=server,
            variable=variable,
            secret=self.seal(server, variable, text, flag),
            sensitive=flag,
        )
        await self._append(server, [event], actor)
        return self._info(spec, (await self._stored(server)).get(variable))

    async def delete(self, server: str, variable: str, *, actor: str = "user") -> None:
        """Forget one stored credential; NotFound when there is none."""
        await self.q.server(server)
        if variable not in await self._stored(server):
            raise NotFound(
                f"server {server!r} has no stored credential {variable!r}", field="variable"
            )
        await self._append(server, [CredentialDeleted(server=server, variable=variable)], actor)

    def set_many(
        self,
        server: str,
        values: Mapping[str, str],
        env: Iterable[EnvVarSpec],
    ) -> list[CredentialSet]:
        """Events for several credentials at once (used when importing an external server)."""
        specs = {s.name: s for s in env}
        return [
            CredentialSet(
                server=server,
                variable=k,
                secret=self.seal(
                    server, k, self._value(v), specs[k].sensitive if k in specs else True
                ),
                sensitive=specs[k].sensitive if k in specs else True,
            )
            for k, v in sorted(values.items())
        ]

    # -- helpers -----------------------------------------------------------------------------

    async def _stored(self, server: str) -> dict[str, CredentialView]:
        return {c.variable: c for c in await self.q.credentials(server)}

    def _spec(self, srv: ServerView, variable: object) -> EnvVarSpec:
        if not isinstance(variable, str) or not variable:
            raise InvalidInput("variable name is required", field="variable")
        if is_reserved_env(variable):
            raise InvalidInput(
                f"{variable!r} is set by the runner itself and cannot be a credential",
                field="variable",
            )
        for spec in srv.env:
            if spec.name == variable:
                return spec
        names = ", ".join(s.name for s in srv.env) or "none"
        raise InvalidInput(
            f"server {srv.name!r} declares no variable {variable[:80]!r}; its variables: {names}",
            field="variable",
        )

    @staticmethod
    def _value(value: object) -> str:
        if not isinstance(value, str):
            raise InvalidInput("the credential value must be a string", field="value")
        if not value:
            raise InvalidInput(
                "the credential value is empty; delete the credential instead", field="value"
            )
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidInput(
                f"the credential value is longer than {MAX_VALUE_CHARS} characters", field="value"
            )
        if "\x00" in value:
            raise InvalidInput("the credential value contains a NUL character", field="value")
        return value

    async def _append(self, server: str, events: list[Any], actor: str) -> None:
        try:
            await self.store.append(
                server_stream(server), events, expected="exists", meta=Meta(actor=actor)
            )
        except ConcurrencyError:
            raise Conflict(f"server {server!r} does not exist any more") from None


def default_sensitivity(name: str) -> bool:
    """Name-based sensitivity of a variable no spec describes."""
    return is_sensitive(name)


async def reseal_all(
    store: Backend,
    queries: Queries,
    box: SecretBox,
    *,
    old_key_id: str,
    actor: str = "user",
) -> int:
    """Re-encrypt every credential and webhook secret not sealed under ``box``'s current key,
    then append ``SecretKeyRotated``. Returns how many values were resealed.

    A credential becomes a fresh ``CredentialSet``. A webhook's current (and previous, during
    its grace period) secret are re-sealed through two ``WebhookSecretRotated`` events in one
    append, which leaves the webhook exactly as it was, only under the new key.
    """
    count = 0
    for srv in await queries.servers():
        events: list[Any] = []
        for cred in await queries.credentials(srv.name):
            if not box.needs_reseal(cred.secret):
                continue
            ctx = credential_context(cred.server, cred.variable)
            events.append(
                CredentialSet(
                    server=cred.server,
                    variable=cred.variable,
                    secret=box.reseal(cred.secret, ctx),
                    sensitive=cred.sensitive,
                )
            )
        if events:
            await store.append(server_stream(srv.name), events, meta=Meta(actor=actor))
            count += len(events)
    for hook in await queries.webhooks():
        old = [s for s in (hook.secret, hook.previous_secret) if s is not None]
        if not any(box.needs_reseal(s) for s in old):
            continue
        ctx = webhook_context(hook.webhook_id)
        current = box.reseal(hook.secret, ctx)
        previous = box.reseal(hook.previous_secret, ctx) if hook.previous_secret else current
        until = hook.previous_valid_until or 0.0
        await store.append(
            f"webhook-{hook.webhook_id}",
            [
                WebhookSecretRotated(
                    webhook_id=hook.webhook_id, secret=previous, previous_valid_until=until
                ),
                WebhookSecretRotated(
                    webhook_id=hook.webhook_id, secret=current, previous_valid_until=until
                ),
            ],
            meta=Meta(actor=actor),
        )
        count += len(old)
    await store.append(
        "secrets",
        [SecretKeyRotated(old_key_id=old_key_id, new_key_id=box.key_id, resealed=count)],
        meta=Meta(actor=actor),
    )
    return count


async def sealed_key_ids(queries: Queries) -> set[str]:
    """Ids of every key some stored credential or webhook secret is sealed under."""
    ids: set[str] = set()
    for srv in await queries.servers():
        ids.update(c.secret.key_id for c in await queries.credentials(srv.name))
    for hook in await queries.webhooks():
        ids.add(hook.secret.key_id)
        if hook.previous_secret is not None:
            ids.add(hook.previous_secret.key_id)
    return ids
