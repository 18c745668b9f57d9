"""The webhook actor: every accepted delivery becomes exactly one run.

On ``WebhookReceived`` it renders the endpoint's prompt template with the delivery's payload and
(masked) headers and appends ``RunRequested`` with the run id the ingest already derived from the
delivery, on a stream that must not exist yet — so a delivery can never run twice, whichever
process or restart handles it. At start it catches up: every stored delivery without a run gets
one (a crash between the durable append and the run request loses nothing).
"""

from __future__ import annotations

import logging

from actors.templates import render
from events.backend import Backend
from events.envelope import Meta
from events.errors import ConcurrencyError
from events.ids import run_stream
from events.runs import RunRequested, RunSpec
from events.system import SettingsChanged
from events.webhooks import (
    WebhookCreated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookEnabled,
    WebhookReceived,
    WebhookSecretRotated,
    WebhookUpdated,
)
from projections.queries import webhooks as webhook_queries
from projections.read import get_row, select_rows
from projections.settings import SETTINGS, Settings, SettingsView, effective
from projections.webhooks import DELIVERIES, WEBHOOKS, DeliveryView, WebhookView

__all__ = ["WebhookActor"]

log = logging.getLogger("actors.webhook")
CATCH_UP_PAGE = 500
_HOOK_CHANGES = (
    WebhookCreated,
    WebhookUpdated,
    WebhookEnabled,
    WebhookDisabled,
    WebhookSecretRotated,
    WebhookDeleted,
)


class WebhookActor:
    """Turns deliveries into runs; safe to run in several processes at once."""

    def __init__(self, store: Backend, *, from_position: int | None = None) -> None:
        self.store = store
        self.from_position = from_position
        self.requested = 0
        # Read-through caches, invalidated by the events this actor reads in log order anyway.
        self._hooks: dict[str, WebhookView] = {}
        self._settings: Settings | None = None

    async def run(self) -> None:
        """Catch up on deliveries without a run, then follow the log."""
        head = self.from_position if self.from_position is not None else await self.store.head()
        self.from_position = None
        await self.catch_up()
        async with self.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                ev = rec.event
                if isinstance(ev, WebhookReceived):
                    await self.handle(ev, causation=str(rec.position))
                elif isinstance(ev, _HOOK_CHANGES):
                    self._hooks.pop(ev.webhook_id, None)
                elif isinstance(ev, SettingsChanged):
                    self._settings = None

    async def catch_up(self) -> list[str]:
        """Request the run of every stored delivery that has none yet; returns their run ids."""
        done: list[str] = []
        after: tuple[int, str] = (-1, "")
        while True:
            rows: list[DeliveryView] = await select_rows(
                self.store,
                DELIVERIES,
                webhook_queries.WITHOUT_RUN_AFTER,
                (after[0], after[0], after[1], CATCH_UP_PAGE),
            )
            for d in rows:
                run_id = await self.handle(_event_of(d), causation=f"catch-up:{d.delivery_id}")
                if run_id is not None:
                    done.append(run_id)
            if len(rows) < CATCH_UP_PAGE:
                break
            after = (rows[-1].received_at_us, rows[-1].delivery_id)
        if done:
            log.info("requested %d run(s) for deliveries received while down", len(done))
        return done

    async def handle(self, ev: WebhookReceived, *, causation: str) -> str | None:
        """Request the delivery's run; None when it already exists or the webhook is gone."""
        hook = self._hooks.get(ev.webhook_id)
        if hook is None:
            hook = await get_row(self.store, WEBHOOKS, ev.webhook_id)
            if hook is None:
                log.warning("delivery %s: webhook %s was deleted", ev.delivery_id, ev.webhook_id)
                return None
            self._hooks[ev.webhook_id] = hook
        settings = self._settings
        if settings is None:
            row: SettingsView | None = await get_row(self.store, SETTINGS, "settings")
            settings = self._settings = effective(row.values if row else {})
        s = hook.spec
        spec = RunSpec(
            prompt=render(hook.prompt_template, ev.body, ev.headers, mark_untrusted=True),
            model=s.model or settings.default_model,
            tools=s.tools,
            mcp_servers=s.mcp_servers,
            timeout_seconds=s.timeout_seconds or settings.default_timeout_seconds,
            max_turns=s.max_turns,
            budget_usd=s.budget_usd if s.budget_usd is not None else settings.default_budget_usd,
            ask_first=s.ask_first,
            # None: ask before every write or execute tool (the owner opts out with False)
            ask_first_writes=s.ask_first_writes,
            approval_timeout_seconds=s.approval_timeout_seconds,
            approval_on_timeout=s.approval_on_timeout,
            untrusted_input=True,
            node_label=s.node_label,
        )
        try:
            await self.store.append(
                run_stream(ev.run_id),
                [
                    RunRequested(
                        run_id=ev.run_id,
                        job_id=None,
                        trigger="webhook",
                        spec=spec,
                        webhook_id=ev.webhook_id,
                        delivery_id=ev.delivery_id,
                    )
                ],
                expected="no_stream",
                meta=Meta(actor="webhook", causation_id=causation),
            )
        except ConcurrencyError:
            return None
        self.requested += 1
        return ev.run_id


def _event_of(d: DeliveryView) -> WebhookReceived:
    return WebhookReceived(
        webhook_id=d.webhook_id,
        delivery_id=d.delivery_id,
        dedupe_key=d.dedupe_key,
        run_id=d.run_id,
        headers=d.headers,
        body=d.body,
        body_is_json=d.body_is_json,
        verification=d.verification,
        source=d.source,
        replay_of=d.replay_of,
    )
