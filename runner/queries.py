"""Read-side of the application: typed queries over the view tables, paginated with a hard cap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from events.backend import Backend
from events.envelope import Recorded
from events.views import Query
from projections import (
    CostRow,
    CredentialView,
    DeliveryView,
    InvocationView,
    JobView,
    OutputRow,
    RejectionView,
    RunView,
    ServerView,
    SettingsView,
    WebhookView,
)
from projections.costs import RunSpend, day_of
from projections.queries import by_key, decode
from projections.queries import costs as cost_queries
from projections.queries import jobs as job_queries
from projections.queries import runs as run_queries
from projections.queries import servers as server_queries
from projections.queries import webhooks as webhook_queries
from projections.queries.runs import RunWhere
from runner.errors import InvalidInput, NotFound
from runner.settings import Settings, effective

T = TypeVar("T")
MAX_PAGE = 200
_decode = decode


class Page(msgspec.Struct, kw_only=True):
    items: list[Any]
    limit: int
    offset: int
    total: int
    #: Where the next page starts (keyset: pass it back as ``cursor``); None on the last page.
    next_cursor: str | None = None

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


def cursor_of(at: int, key: str) -> str:
    """A keyset cursor: the sort value and the row key of the last row shown."""
    return f"{at}.{key}"


def parse_cursor(raw: str | None) -> tuple[int, str] | None:
    """``<whole number>.<id>`` from a ``cursor`` argument; None when absent."""
    if raw is None or raw == "":
        return None
    at, dot, key = raw.partition(".")
    digits = at[1:] if at.startswith("-") else at
    plain = key.isascii() and key.isprintable() and " " not in key
    if (
        not dot
        or not digits.isdigit()
        or len(digits) > 18
        or not key
        or len(key) > 200
        or not (plain and digits.isascii())
    ):
        raise InvalidInput(
            "cursor must be the next_cursor of a previous page (<number>.<id>)", field="cursor"
        )
    return int(at), key


def _keyset(items: list[Any], lim: int, last: Any) -> tuple[list[Any], str | None]:
    """The page (``lim`` of the ``lim + 1`` rows read) and the cursor after it, if more."""
    if len(items) <= lim:
        return items, None
    shown = items[:lim]
    return shown, last(shown[-1])


def clamp(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if limit < 1:
        raise InvalidInput("limit must be at least 1", field="limit")
    return min(int(limit), MAX_PAGE)


class RunFilter(msgspec.Struct, kw_only=True):
    job_id: str | None = None
    state: str | None = None
    trigger: str | None = None
    webhook_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None


def run_where(f: RunFilter) -> RunWhere:
    """The view query's filter for an API/CLI run filter."""
    return RunWhere(
        job_id=f.job_id,
        state=f.state,
        trigger=f.trigger,
        webhook_id=f.webhook_id,
        since_us=f.since_us,
        until_us=f.until_us,
    )


class Queries:
    """Everything the dashboard, API, MCP tools and CLI read."""

    def __init__(self, store: Backend) -> None:
        self.store = store

    async def _one(self, row_type: type[T], table: str, key: str) -> T | None:
        rows = await self.store.fetch(by_key(table), (key,))
        return _decode(row_type, rows[0][0]) if rows else None

    async def job(self, job_id: str) -> JobView:
        job = await self._one(JobView, "v_jobs", job_id)
        if job is None:
            raise NotFound(
                f"no job with id {job_id!r} (expected a job id such as 'job_1a2b3c4d5e6f')"
            )
        return job

    async def job_by_name(self, name: str) -> JobView | None:
        rows = await self.store.fetch(job_queries.BY_NAME, (name,))
        return _decode(JobView, rows[0][0]) if rows else None

    async def jobs(
        self, *, limit: int | None = None, offset: int = 0, cursor: str | None = None
    ) -> Page:
        """Jobs newest first; a page at ``offset``, or after ``cursor`` (keyset)."""
        lim = clamp(limit, MAX_PAGE)
        after = parse_cursor(cursor)
        if after is not None:
            rows = await self.store.fetch(*job_queries.newest_after(after, lim + 1))
        else:
            rows = await self.store.fetch(job_queries.NEWEST_PAGE, (lim + 1, offset))
        items, nxt = _keyset(
            [_decode(JobView, r[0]) for r in rows],
            lim,
            lambda j: cursor_of(j.created_at_us, j.job_id),
        )
        total = await self._count(job_queries.COUNT)
        return Page(items=items, limit=lim, offset=offset, total=total, next_cursor=nxt)

    async def all_jobs(self) -> list[JobView]:
        rows = await self.store.fetch(job_queries.ALL)
        return [_decode(JobView, r[0]) for r in rows]

    async def _count(self, query: Query, params: Sequence[Any] = ()) -> int:
        rows = await self.store.fetch(query, params)
        return int(rows[0][0])

    async def run(self, run_id: str) -> RunView:
        run = await self._one(RunView, "v_runs", run_id)
        if run is None:
            raise NotFound(
                f"no run with id {run_id!r} (expected a run id such as 'run_1a2b3c4d5e6f')"
            )
        rows = await self.store.fetch(run_queries.OUTPUT_COUNT, (run_id,))
        return msgspec.structs.replace(run, outputs=int(rows[0][0]))

    async def runs(
        self,
        filt: RunFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page:
        """Runs newest first; a page at ``offset``, or after ``cursor`` (keyset: as fast on
        the thousandth page as on the first)."""
        f = filt or RunFilter()
        lim = clamp(limit)
        if offset < 0:
            raise InvalidInput("offset must be >= 0", field="offset")
        where = msgspec.structs.replace(run_where(f), before=parse_cursor(cursor))
        rows = await self.store.fetch(*run_queries.newest(where, lim + 1, offset))
        items, nxt = _keyset(
            [_decode(RunView, r[0]) for r in rows],
            lim,
            lambda r: cursor_of(r.requested_at_us, r.run_id),
        )
        total = await self._count(*run_queries.counted(where))
        return Page(items=items, limit=lim, offset=offset, total=total, next_cursor=nxt)

    async def active_runs(self) -> list[RunView]:
        rows = await self.store.fetch(run_queries.ACTIVE)
        return [_decode(RunView, r[0]) for r in rows]

    async def output(
        self, run_id: str, *, after_position: int = 0, limit: int = 1000
    ) -> list[OutputRow]:
        rows = await self.store.fetch(
            run_queries.OUTPUT_AFTER, (run_id, after_position, min(limit, 5000))
        )
        return [_decode(OutputRow, r[0]) for r in rows]

    async def settings(self) -> Settings:
        row = await self._one(SettingsView, "v_settings", "settings")
        return effective(row.values if row else {})

    async def servers(self) -> list[ServerView]:
        rows = await self.store.fetch(server_queries.ALL)
        return [_decode(ServerView, r[0]) for r in rows]

    async def server(self, name: str) -> ServerView:
        srv = await self._one(ServerView, "v_servers", name)
        if srv is None:
            raise NotFound(f"no MCP server named {name!r}")
        return srv

    async def credentials(self, server: str) -> list[CredentialView]:
        rows = await self.store.fetch(server_queries.CREDENTIALS, (server,))
        return [_decode(CredentialView, r[0]) for r in rows]

    async def tool_invocations(self, server: str, *, limit: int = 20) -> list[InvocationView]:
        """A server's most recent ``invoke_internal_mcp_tool`` calls, newest first."""
        rows = await self.store.fetch(server_queries.INVOCATIONS, (server, clamp(limit)))
        return [_decode(InvocationView, r[0]) for r in rows]

    async def server_tools(self) -> dict[str, tuple[str, ...]]:
        """Each server's discovered tool names (empty when not discovered yet)."""
        return {s.name: tuple(t.name for t in s.tools) for s in await self.servers()}

    async def known_servers(self) -> dict[str, bool]:
        rows = await self.store.fetch(server_queries.ENABLED)
        return {str(r[0]): bool(r[1]) for r in rows}

    async def webhooks(self) -> list[WebhookView]:
        rows = await self.store.fetch(webhook_queries.ALL)
        return [_decode(WebhookView, r[0]) for r in rows]

    async def webhook(self, webhook_id: str) -> WebhookView:
        hook = await self._one(WebhookView, "v_webhooks", webhook_id)
        if hook is None:
            raise NotFound(
                f"no webhook with id {webhook_id!r} "
                "(expected a webhook id such as 'wh_1a2b3c4d5e6f')"
            )
        return hook

    async def delivery(self, delivery_id: str) -> DeliveryView:
        found = await self._one(DeliveryView, "v_deliveries", delivery_id)
        if found is None:
            raise NotFound(f"no webhook delivery with id {delivery_id!r}")
        return found

    async def deliveries(
        self,
        webhook_id: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page:
        """A webhook's deliveries, newest first (headers already masked)."""
        return await self._page(
            DeliveryView,
            "v_deliveries",
            webhook_id,
            limit,
            offset,
            cursor,
            lambda d: cursor_of(d.received_at_us, d.delivery_id),
        )

    async def rejections(
        self,
        webhook_id: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page:
        """A webhook's rejected deliveries, newest first."""
        return await self._page(
            RejectionView,
            "v_webhook_rejections",
            webhook_id,
            limit,
            offset,
            cursor,
            lambda r: cursor_of(r.rejected_at_us, f"{r.webhook_id}:{r.position:012d}"),
        )

    async def _page(
        self,
        row_type: type[Any],
        table: str,
        webhook_id: str,
        limit: int | None,
        offset: int,
        cursor: str | None,
        last: Any,
    ) -> Page:
        lim = clamp(limit)
        if offset < 0:
            raise InvalidInput("offset must be >= 0", field="offset")
        before = parse_cursor(cursor)
        if before is not None:
            query = webhook_queries.before(table, webhook_id, before, lim + 1)
        else:
            query = webhook_queries.page(table, webhook_id, lim + 1, offset)
        rows = await self.store.fetch(*query)
        items, nxt = _keyset([_decode(row_type, r[0]) for r in rows], lim, last)
        total = await self._count(webhook_queries.counted(table), (webhook_id,))
        return Page(items=items, limit=lim, offset=offset, total=total, next_cursor=nxt)

    async def costs(
        self, *, start: dt.date, end: dt.date, group_by: str = "day"
    ) -> list[dict[str, Any]]:
        """Totals per ``day``, ``job`` or ``model`` for ``start <= day <= end`` (UTC)."""
        query = cost_queries.grouped(group_by)
        if query is None:
            raise InvalidInput("group_by must be one of day, job, model", field="group_by")
        if end < start:
            raise InvalidInput("end must not be before start", field="end")
        rows = await self.store.fetch(query, (start.isoformat(), end.isoformat()))
        return [
            {
                "key": r[0],
                "runs": r[1],
                "input_tokens": r[2],
                "output_tokens": r[3],
                "cache_creation_tokens": r[4],
                "cache_read_tokens": r[5],
                "cost_usd": round(float(r[6] or 0.0), 6),
            }
            for r in rows
        ]

    async def cost_rows(self, *, start: dt.date, end: dt.date) -> list[CostRow]:
        rows = await self.store.fetch(cost_queries.ROWS, (start.isoformat(), end.isoformat()))
        return [_decode(CostRow, r[0]) for r in rows]

    async def totals(self, *, since_day: str | None = None) -> dict[str, Any]:
        if since_day:
            rows = await self.store.fetch(cost_queries.TOTALS_SINCE, (since_day,))
        else:
            rows = await self.store.fetch(cost_queries.TOTALS)
        r = rows[0]
        return {
            "runs": r[0],
            "cost_usd": round(float(r[1]), 6),
            "input_tokens": r[2],
            "output_tokens": r[3],
            "cache_creation_tokens": r[4],
            "cache_read_tokens": r[5],
        }

    async def run_spend(self, run_id: str) -> dict[str, Any]:
        """The run's spend as the model relay metered it, against its budget and next to the
        CLI's own estimate (``difference_usd`` when they disagree)."""
        run = await self.run(run_id)
        spend = await self._one(RunSpend, "v_run_spend", run_id)
        s = spend or RunSpend(run_id=run_id)
        return {
            "metered": spend is not None,
            "calls": s.calls,
            "cost_usd": round(s.cost_usd, 6),
            "cost_known": s.unknown_cost_calls == 0,
            "unknown_cost_calls": s.unknown_cost_calls,
            "charged_usd": round(s.charged_usd, 6),
            "budget_usd": run.spec.budget_usd,
            "budget_left_usd": (
                round(run.spec.budget_usd - s.charged_usd, 6)
                if run.spec.budget_usd is not None
                else None
            ),
            "cli_cost_usd": s.cli_cost_usd if spend is not None else run.cost_usd,
            "difference_usd": s.difference_usd,
            "refused": s.refused,
            "capped_calls": s.capped_calls,
            "partial_calls": s.partial_calls,
        }

    async def spend_today(self) -> dict[str, Any]:
        """Today's (UTC) metered spend against the daily budget settings."""
        day = await self.today()
        rows = await self.store.fetch(cost_queries.SPEND_ON, (day,))
        settings = await self.settings()
        return {
            "day": day,
            "metered_cost_usd": round(float(rows[0][0]), 6),
            "charged_usd": round(float(rows[0][1]), 6),
            "daily_budget_usd": settings.daily_budget_usd,
            "job_daily_budget_usd": settings.job_daily_budget_usd,
        }

    async def today(self) -> str:
        return day_of(int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000))

    async def history(self, stream: str) -> list[Recorded]:
        return await self.store.read_stream(stream)
