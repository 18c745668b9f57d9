"""The model relay: per-run tokens in, the real credential out, every call metered and budgeted.

The executor asks ``open`` for a run's token and environment (``ANTHROPIC_BASE_URL`` pointing
here, the token as the run's key) and ``close``s it when the run ends. ``run`` serves the relay
on a loopback port and follows the log: a run's terminal event or cancel request (from any
process) ends its token, settings changes update the daily limits, and other processes' metered
calls count toward today's spend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
import msgspec
from anyio.abc import TaskStatus

from actors.relay.app import RelayApp
from actors.relay.budgets import Ledger, Limits, utc_day
from actors.relay.environ import MODEL_SECRET_VARS, scrub_environ
from actors.relay.grants import Grant, Grants
from actors.relay.meter import Meter
from actors.relay.prices import Usage, charged_usd, cost_usd
from actors.relay.server import serve_loopback
from actors.relay.settings import RelaySettings
from actors.relay.upstream import Counters, Upstream
from events.backend import Backend
from events.envelope import Meta, Recorded
from events.errors import NoSuchView
from events.ids import run_stream
from events.relay import ModelCallMetered, ModelCallRefused, RefusalReason
from events.runs import TERMINAL_RUN_EVENTS
from projections.queries import costs as cost_queries
from projections.read import get_row
from projections.settings import SETTINGS, SettingsView, effective

log = logging.getLogger("runner.relay")
META = Meta(actor="relay")
TERMINAL = frozenset(t.__name__ for t in TERMINAL_RUN_EVENTS) | {"RunCancelRequested"}
REFUSALS_PER_RUN = 5
"""Refusals of one run recorded as events; later ones only count on the health panel."""
UNKNOWN_EVERY = 1.0
"""Seconds between two recorded unknown-token refusals (a flood is one event per second)."""


class RelayUnavailable(RuntimeError):
    """Runs are relayed, but the relay is not serving (starting, stopped or crashed)."""


class RelayGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What a run gets: the environment that points its CLI at the relay, with its token."""

    env: dict[str, str]
    token: str


class Relay:
    """One per service process; safe to use from any task of its event loop."""

    def __init__(
        self,
        store: Backend,
        settings: RelaySettings,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.grants = Grants()
        self.ledger = Ledger(clock)
        self.upstream: Upstream | None = None
        if settings.credential is not None:
            self.upstream = Upstream(
                settings.upstream_url,
                settings.credential,
                max_concurrent=settings.max_concurrent,
                max_retries=settings.max_retries,
                max_retry_wait=settings.max_retry_wait,
                transport=transport,
            )
        self.counters: Counters = self.upstream.counters if self.upstream else Counters()
        self.port: int | None = None
        self._last_unknown = 0.0
        self._unknown_suppressed = 0

    # -- the executor's side ---------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.upstream is not None

    def open(
        self, run_id: str, job_id: str | None, budget_usd: float | None, ttl: float
    ) -> RelayGrant | None:
        """A token for the run, or ``None`` when runs cannot be relayed (Bedrock, Vertex, no
        credential): the caller then uses its configured credentials.

        Raises ``RelayUnavailable`` when runs should be relayed but the relay is not serving:
        the run must fail rather than be handed the real credential."""
        if self.upstream is None:
            return None
        if self.port is None:
            raise RelayUnavailable("the model relay is not running; the run was not started")
        token, _ = self.grants.mint(run_id, job_id, budget_usd, ttl + self.settings.token_grace)
        cred = self.settings.credential
        assert cred is not None
        env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{self.port}"}
        # An OAuth-shaped child (subscription defaults, the oauth beta) for a login upstream.
        env["CLAUDE_CODE_OAUTH_TOKEN" if cred.oauth else "ANTHROPIC_API_KEY"] = token
        return RelayGrant(env=env, token=token)

    def close(self, run_id: str, why: str = "the run ended") -> None:
        """End the run's token: later calls get 402, calls in flight are cut."""
        self.grants.end(run_id, why)

    def refusal(self, run_id: str) -> tuple[RefusalReason, str] | None:
        """The budget refusal that stopped the run, if any (for its terminal event)."""
        grant = self.grants.of_run(run_id)
        return grant.refusal if grant is not None else None

    def spent(self, run_id: str) -> float | None:
        grant = self.grants.of_run(run_id)
        return grant.spent_usd if grant is not None else None

    # -- the app's side --------------------------------------------------------------------
    def charge(self, call: Any, meter: Meter) -> None:
        """Count a finished (or cut) call against every budget and release what it held."""
        grant: Grant = call.grant
        usd = charged_usd(meter.model or call.body.model, meter.usage)
        grant.spent_usd += usd
        grant.calls += 1
        self.ledger.add(utc_day(self.clock()), grant.job_id, usd, call.call_id, mine=True)
        self.ledger.release(grant, call.held)

    async def metered(
        self,
        call: Any,
        meter: Meter,
        *,
        status: int,
        request_id: str | None,
        retries: int,
        partial: bool,
        ttfb: float,
        duration: float,
    ) -> None:
        model = meter.model or call.body.model
        u: Usage = meter.usage
        ev = ModelCallMetered(
            run_id=call.grant.run_id,
            job_id=call.grant.job_id,
            call_id=call.call_id,
            model=model,
            status=status,
            request_id=request_id,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cache_read_input_tokens=u.cache_read_input_tokens,
            cache_creation_input_tokens=u.cache_creation_input_tokens,
            cache_creation_1h_input_tokens=u.cache_creation_1h_input_tokens,
            cost_usd=cost_usd(model, u),
            charged_usd=charged_usd(model, u),
            partial=partial,
            max_tokens_capped=call.capped,
            retries=retries,
            ttfb_ms=round(ttfb * 1000, 3),
            duration_ms=round(duration * 1000, 3),
        )
        await self._append(run_stream(call.grant.run_id), ev)

    async def refused(self, grant: Grant, reason: RefusalReason, detail: str) -> None:
        grant.refused_events += 1
        if grant.refused_events > REFUSALS_PER_RUN:
            return
        ev = ModelCallRefused(
            reason=reason, detail=detail, run_id=grant.run_id, job_id=grant.job_id
        )
        await self._append(run_stream(grant.run_id), ev)

    async def budget_refused(self, grant: Grant, reason: RefusalReason, detail: str) -> None:
        """Out of budget: the run's token ends here, its terminal event says why."""
        grant.refusal = (reason, detail)
        grant.end(detail)
        await self.refused(grant, reason, detail)

    async def refused_unknown(self, client: Any) -> None:
        now = time.monotonic()
        if now - self._last_unknown < UNKNOWN_EVERY:
            self._unknown_suppressed += 1
            return
        self._last_unknown = now
        peer = f"{client[0]}:{client[1]}" if isinstance(client, list | tuple) else "?"
        ev = ModelCallRefused(
            reason="unknown_token",
            detail=f"a call from {peer} with an unknown or missing relay token",
            suppressed=self._unknown_suppressed,
        )
        self._unknown_suppressed = 0
        await self._append("relay", ev)

    async def _append(self, stream: str, ev: Any) -> None:
        try:
            await self.store.append(stream, [ev], meta=META)
        except Exception:  # metering must never break the stream it follows
            log.exception("could not record %s", type(ev).__name__)

    # -- the service's side ----------------------------------------------------------------
    async def run(self, *, task_status: TaskStatus[int | None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve on loopback and follow the log until cancelled; ``started(port)``."""
        upstream = self.upstream
        if upstream is None:
            task_status.started(None)
            await anyio.sleep_forever()
            return
        head = await self.store.head()
        await self._seed()
        try:
            async with anyio.create_task_group() as tg:
                self.port = await tg.start(
                    serve_loopback,
                    RelayApp(self),
                    self.settings.host,
                    self.settings.port,
                    self.settings.unix_path,
                )
                tg.start_soon(self._follow, head)
                if self.settings.scrub_environ:
                    gone = scrub_environ(MODEL_SECRET_VARS)
                    if gone:
                        log.info("blanked %s in /proc/self/environ", ", ".join(gone))
                log.info("model relay on http://127.0.0.1:%s", self.port)
                task_status.started(self.port)
        finally:
            self.grants.end_all("the runner stopped")
            self.port = None
            with anyio.CancelScope(shield=True):
                await upstream.aclose()

    async def _seed(self) -> None:
        try:
            await self._seed_from_views()
        except NoSuchView as exc:  # a log without views (tools, some tests)
            log.warning("relay: no spend views to start from (%s)", exc)

    async def _seed_from_views(self) -> None:
        row: SettingsView | None = await get_row(self.store, SETTINGS, "settings")
        self._limits(row.values if row else {})
        day = utc_day(self.clock())
        rows = await self.store.fetch(cost_queries.CHARGED_PER_JOB_ON, (day,))
        per_job = {r[0]: float(r[1]) for r in rows if r[0] is not None}
        self.ledger.seed(day, sum(float(r[1]) for r in rows), per_job)

    def _limits(self, values: dict[str, Any]) -> None:
        s = effective(values)
        self.ledger.limits = Limits(
            job_daily_usd=s.job_daily_budget_usd, daily_usd=s.daily_budget_usd
        )

    async def _follow(self, head: int) -> None:
        async with self.store.subscribe(from_position=head) as sub:
            async for rec in sub:
                try:
                    self._on(rec)
                except Exception:  # one odd event must not stop token revocation
                    log.exception("relay: could not follow event %s", rec.position)

    def _on(self, rec: Recorded) -> None:
        ev = rec.event
        if rec.type in TERMINAL and rec.stream.startswith("run-"):
            self.grants.end(rec.stream.removeprefix("run-"), _why(rec.type))
        elif isinstance(ev, ModelCallMetered):
            day = utc_day(rec.recorded_at_us / 1_000_000)
            self.ledger.add(day, ev.job_id, ev.charged_usd, ev.call_id, mine=False)
        elif rec.type == "SettingsChanged":
            changes = getattr(ev, "changes", {})
            cur = self.ledger.limits
            merged = {"job_daily_budget_usd": cur.job_daily_usd, "daily_budget_usd": cur.daily_usd}
            merged.update({k: v for k, v in changes.items() if k in merged})
            self._limits(merged)

    def status(self) -> dict[str, Any]:
        """For the health panel."""
        s = self.settings
        out: dict[str, Any] = {
            "mode": "relayed" if self.enabled else "bypassed",
            "credential": s.credential.kind if s.credential else None,
            "exposed_to_runs": list(s.exposed),
            "port": self.port,
            "unix_socket": str(s.unix_path) if s.unix_path else None,
            "upstream": _without_userinfo(s.upstream_url) if self.enabled else None,
            "live_tokens": self.grants.live,
            "max_concurrent_upstream": s.max_concurrent,
            "counters": msgspec.to_builtins(self.counters),
        }
        if not self.enabled:
            out["note"] = s.bypass_note
        return out


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _why(event_type: str) -> str:
    return {
        "RunSucceeded": "the run succeeded",
        "RunFailed": "the run failed",
        "RunTimedOut": "the run timed out",
        "RunCancelled": "the run was cancelled",
        "RunCancelRequested": "the run is being cancelled",
        "RunCrashed": "the run crashed",
        "RunSkipped": "the run was skipped",
    }.get(event_type, "the run ended")
