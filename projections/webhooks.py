"""Webhook endpoints, their deliveries and their rejections."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from events.envelope import Recorded
from events.integrity import ContentErased
from events.runs import RunSpec
from events.webhooks import (
    SealedSecret,
    WebhookCreated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookEnabled,
    WebhookReceived,
    WebhookRejected,
    WebhookSecretRotated,
    WebhookUpdated,
)
from projections.base import Change, Table, View, simple_projection


class WebhookView(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: str
    name: str
    prompt_template: str
    spec: RunSpec
    scheme: str
    secret: SealedSecret
    enabled: bool = True
    description: str = ""
    rate_per_minute: float = 60.0
    burst: int = 20
    previous_secret: SealedSecret | None = None
    previous_valid_until: float | None = None
    created_at_us: int = 0
    updated_at_us: int = 0
    deliveries: int = 0
    rejections: int = 0
    last_delivery_at_us: int | None = None


class DeliveryView(msgspec.Struct, frozen=True, kw_only=True):
    delivery_id: str
    webhook_id: str
    dedupe_key: str
    run_id: str
    headers: dict[str, str]
    body: str
    body_is_json: bool
    verification: str
    source: str = ""
    replay_of: str | None = None
    received_at_us: int = 0


class RejectionView(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: str
    position: int
    reason: str
    status: int
    source: str = ""
    headers: dict[str, str] = {}
    rejected_at_us: int = 0


WEBHOOKS = Table(
    name="v_webhooks",
    row_type=WebhookView,
    columns=(("name", "TEXT"), ("created_at", "INTEGER")),
    extract=lambda r: (r.name, r.created_at_us),
    indexes=("created_at",),
)
DELIVERIES = Table(
    name="v_deliveries",
    row_type=DeliveryView,
    columns=(("webhook_id", "TEXT"), ("received_at", "INTEGER"), ("run_id", "TEXT")),
    extract=lambda r: (r.webhook_id, r.received_at_us, r.run_id),
    indexes=("webhook_id, received_at", "received_at"),
    memory=False,
)
REJECTIONS = Table(
    name="v_webhook_rejections",
    row_type=RejectionView,
    columns=(("webhook_id", "TEXT"), ("rejected_at", "INTEGER")),
    extract=lambda r: (r.webhook_id, r.rejected_at_us),
    indexes=("webhook_id, rejected_at",),
    memory=False,
)


def _erased(view: View, rec: Recorded) -> Iterable[Change]:
    """An erased delivery keeps its place and facts; its body reads ``[erased]``."""
    ev = rec.event
    assert isinstance(ev, ContentErased)
    for d in ev.deliveries:
        yield (
            DELIVERIES.name,
            d.delivery_id,
            DeliveryView(
                delivery_id=d.delivery_id,
                webhook_id=d.webhook_id,
                dedupe_key=d.dedupe_key,
                run_id=d.run_id,
                headers=d.headers,
                body=ERASED_BODY,
                body_is_json=False,
                verification=d.verification,
                source=d.source,
                replay_of=d.replay_of,
                received_at_us=d.received_at_us,
            ),
        )


ERASED_BODY = "[erased]"


def _hook(view: View, webhook_id: str) -> WebhookView | None:
    row: WebhookView | None = view.get(WEBHOOKS.name, webhook_id)
    return row


def _handle(view: View, rec: Recorded) -> Iterable[Change]:
    ev = rec.event
    now = rec.recorded_at_us
    if isinstance(ev, WebhookCreated):
        yield (
            WEBHOOKS.name,
            ev.webhook_id,
            WebhookView(
                webhook_id=ev.webhook_id,
                name=ev.name,
                prompt_template=ev.prompt_template,
                spec=ev.spec,
                scheme=ev.scheme,
                secret=ev.secret,
                description=ev.description,
                rate_per_minute=ev.rate_per_minute,
                burst=ev.burst,
                created_at_us=now,
                updated_at_us=now,
            ),
        )
        return
    hook = _hook(view, ev.webhook_id)  # type: ignore[union-attr,arg-type]
    if isinstance(ev, WebhookRejected):
        yield (
            REJECTIONS.name,
            f"{ev.webhook_id}:{rec.position:012d}",
            RejectionView(
                webhook_id=ev.webhook_id,
                position=rec.position,
                reason=ev.reason,
                status=ev.status,
                source=ev.source,
                headers=ev.headers,
                rejected_at_us=now,
            ),
        )
        if hook is not None:
            yield (
                WEBHOOKS.name,
                hook.webhook_id,
                msgspec.structs.replace(hook, rejections=hook.rejections + 1),
            )
        return
    if isinstance(ev, WebhookReceived):
        yield (
            DELIVERIES.name,
            ev.delivery_id,
            DeliveryView(
                delivery_id=ev.delivery_id,
                webhook_id=ev.webhook_id,
                dedupe_key=ev.dedupe_key,
                run_id=ev.run_id,
                headers=ev.headers,
                body=ev.body,
                body_is_json=ev.body_is_json,
                verification=ev.verification,
                source=ev.source,
                replay_of=ev.replay_of,
                received_at_us=now,
            ),
        )
        if hook is not None:
            yield (
                WEBHOOKS.name,
                hook.webhook_id,
                msgspec.structs.replace(
                    hook, deliveries=hook.deliveries + 1, last_delivery_at_us=now
                ),
            )
        return
    if hook is None:
        return
    match ev:
        case WebhookUpdated():
            new = msgspec.structs.replace(
                hook,
                name=ev.name,
                prompt_template=ev.prompt_template,
                spec=ev.spec,
                description=ev.description,
                rate_per_minute=ev.rate_per_minute,
                burst=ev.burst,
                updated_at_us=now,
            )
        case WebhookEnabled():
            new = msgspec.structs.replace(hook, enabled=True, updated_at_us=now)
        case WebhookDisabled():
            new = msgspec.structs.replace(hook, enabled=False, updated_at_us=now)
        case WebhookSecretRotated():
            new = msgspec.structs.replace(
                hook,
                secret=ev.secret,
                previous_secret=hook.secret,
                previous_valid_until=ev.previous_valid_until,
                updated_at_us=now,
            )
        case WebhookDeleted():
            yield (WEBHOOKS.name, hook.webhook_id, None)
            return
        case _:
            return
    yield (WEBHOOKS.name, hook.webhook_id, new)


webhooks_projection = simple_projection(
    "webhooks",
    (WEBHOOKS, DELIVERIES, REJECTIONS),
    {
        t: _handle
        for t in (
            WebhookCreated,
            WebhookUpdated,
            WebhookEnabled,
            WebhookDisabled,
            WebhookSecretRotated,
            WebhookDeleted,
            WebhookReceived,
            WebhookRejected,
        )
    }
    | {ContentErased: _erased},
)
