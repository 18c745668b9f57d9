"""The price table of the models the relay meters, and the cost of one call.

USD per million tokens. Sources (checked late 2026):

* platform.claude.com/docs/en/about-claude/pricing and each model's overview page;
* the Claude Code CLI's own ``total_cost_usd``: with usage 120 input, 7 output, 30 cache read and
  10 cache write (5 minutes) it agrees with these rates for every model marked "CLI" below
  (``../shared/reference/relay.md`` section 8, ``claude-agent-sdk.md`` section 3).

Cache multipliers (docs): a 5-minute write costs 1.25x input, a 1-hour write 2x input, a read
0.1x input; newer models read cheaper, as listed. A model that is not in the table, fast mode
(``usage.speed`` other than ``standard``) and server tools other than web search have no price
here: their cost is ``None`` (unknown), never zero.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import msgspec

MILLION = Decimal(1_000_000)
WEB_SEARCH_USD = Decimal("0.01")
"""Per web search request ($10 per 1,000; docs, server tools pricing)."""
HAIKU_5_5_BAND = 100_000
"""Haiku 5.5: a request whose prompt (input + cache read + cache write) exceeds this many
tokens is billed entirely, output included, at the higher band (docs)."""


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """Rates of one model in USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token counts of one call, as the API reports them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    """All cache writes; ``cache_creation_1h_input_tokens`` of them were 1-hour writes."""
    cache_creation_1h_input_tokens: int = 0
    web_search_requests: int = 0
    other_server_tool_requests: int = 0
    speed: str = "standard"

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


def _p(inp: str, out: str, read: str) -> Price:
    i = Decimal(inp)
    return Price(
        input=i,
        output=Decimal(out),
        cache_write_5m=i * Decimal("1.25"),
        cache_write_1h=i * 2,
        cache_read=Decimal(read),
    )


EPOCH = dt.date(2000, 1, 1)
SONNET_5_5_READ_CUT = dt.date(2026, 10, 7)

#: model id → list of (effective from, price), newest last.
PRICES: dict[str, list[tuple[dt.date, Price]]] = {
    # Fable / Mythos 5.1: read 0.025x input (docs; CLI).
    "claude-fable-5-1": [(EPOCH, _p("10", "50", "0.25"))],
    "claude-mythos-5-1": [(EPOCH, _p("10", "50", "0.25"))],
    "claude-fable-5": [(EPOCH, _p("10", "50", "1.00"))],
    "claude-mythos-5": [(EPOCH, _p("10", "50", "1.00"))],
    # Opus 5.5: read 0.05x input (docs; CLI).
    "claude-opus-5-5": [(EPOCH, _p("4", "20", "0.20"))],
    # Opus 5 and 4.5-4.8 (docs; CLI for 5 and 4-8).
    "claude-opus-5": [(EPOCH, _p("5", "25", "0.50"))],
    "claude-opus-4-8": [(EPOCH, _p("5", "25", "0.50"))],
    "claude-opus-4-7": [(EPOCH, _p("5", "25", "0.50"))],
    "claude-opus-4-6": [(EPOCH, _p("5", "25", "0.50"))],
    "claude-opus-4-5": [(EPOCH, _p("5", "25", "0.50"))],
    # Opus 4.1 / 4 (retired except on clouds; docs).
    "claude-opus-4-1": [(EPOCH, _p("15", "75", "1.50"))],
    "claude-opus-4": [(EPOCH, _p("15", "75", "1.50"))],
    # Sonnet 5.5: the cache read price fell from 0.20 to 0.10 on 2026-10-07 (docs; CLI 0.10).
    "claude-sonnet-5-5": [
        (EPOCH, _p("2", "10", "0.20")),
        (SONNET_5_5_READ_CUT, _p("2", "10", "0.10")),
    ],
    "claude-sonnet-5": [(EPOCH, _p("2", "10", "0.20"))],
    # Sonnet 4.x: 3 / 15, standard multipliers (docs; CLI for 4-6 and 4-5).
    "claude-sonnet-4-6": [(EPOCH, _p("3", "15", "0.30"))],
    "claude-sonnet-4-5": [(EPOCH, _p("3", "15", "0.30"))],
    "claude-sonnet-4": [(EPOCH, _p("3", "15", "0.30"))],
    # Haiku 5.5, prompt <= 100k tokens; the > 100k band is HAIKU_5_5_HIGH (docs; CLI).
    "claude-haiku-5-5": [(EPOCH, _p("0.10", "0.50", "0.01"))],
    # Haiku 4.5 (docs; CLI).
    "claude-haiku-4-5": [(EPOCH, _p("1", "5", "0.10"))],
}
HAIKU_5_5_HIGH = _p("0.50", "2.50", "0.05")

_SUFFIX = re.compile(r"(\[[^\]]*\]|-\d{8}|-v\d+(:\d+)?|@\d{8})$")
MOST_EXPENSIVE_OUTPUT = max(p.output for rows in PRICES.values() for _, p in rows)
"""Per million output tokens: the bound used for budgets when a model's price is unknown."""


def base_model(model: str) -> str:
    """``claude-opus-4-6[1m]`` and dated ids such as ``claude-sonnet-4-5-20250929`` price like
    their base id; a cloud prefix (``us.anthropic.``) is dropped."""
    m = model.strip().lower()
    m = m.rsplit("anthropic.", 1)[-1]
    while True:
        stripped = _SUFFIX.sub("", m)
        if stripped == m:
            return m
        m = stripped


def price_of(model: str, on: dt.date | None = None) -> Price | None:
    """The model's rates on ``on`` (default today, UTC); ``None`` when the model is unknown."""
    rows = PRICES.get(base_model(model))
    if not rows:
        return None
    day = on or dt.datetime.now(dt.UTC).date()
    current = None
    for since, price in rows:
        if since <= day:
            current = price
    return current


def cost_usd(model: str, usage: Usage, on: dt.date | None = None) -> float | None:
    """What one call costs, or ``None`` (unknown: a model or feature we have no price for)."""
    price = price_of(model, on)
    if price is None or usage.speed not in ("", "standard") or usage.other_server_tool_requests:
        return None
    if base_model(model) == "claude-haiku-5-5" and usage.prompt_tokens > HAIKU_5_5_BAND:
        price = HAIKU_5_5_HIGH
    writes_1h = min(usage.cache_creation_1h_input_tokens, usage.cache_creation_input_tokens)
    writes_5m = usage.cache_creation_input_tokens - writes_1h
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_input_tokens * price.cache_read
        + writes_5m * price.cache_write_5m
        + writes_1h * price.cache_write_1h
    ) / MILLION + usage.web_search_requests * WEB_SEARCH_USD
    return float(total)


def output_usd_per_token(model: str, on: dt.date | None = None) -> float:
    """The price of one output token, for capping ``max_tokens`` to a remaining budget.

    Unknown models (and Haiku 5.5, whose high band may apply) use the highest rate we know, so
    a cap never lets a call spend more than the budget left.
    """
    price = price_of(model, on)
    if price is None:
        return float(MOST_EXPENSIVE_OUTPUT / MILLION)
    if base_model(model) == "claude-haiku-5-5":
        return float(HAIKU_5_5_HIGH.output / MILLION)
    return float(price.output / MILLION)


WORST = Price(
    input=max(p.input for rows in PRICES.values() for _, p in rows),
    output=MOST_EXPENSIVE_OUTPUT,
    cache_write_5m=max(p.cache_write_5m for rows in PRICES.values() for _, p in rows),
    cache_write_1h=max(p.cache_write_1h for rows in PRICES.values() for _, p in rows),
    cache_read=max(p.cache_read for rows in PRICES.values() for _, p in rows),
)


def charged_usd(model: str, usage: Usage, on: dt.date | None = None) -> float:
    """What a call counts against budgets: its cost, or, when that is unknown, the tokens at
    the highest rates we know (a budget is never bypassed by an unpriced model)."""
    known = cost_usd(model, usage, on)
    if known is not None:
        return known
    total = (
        usage.input_tokens * WORST.input
        + usage.output_tokens * WORST.output
        + usage.cache_read_input_tokens * WORST.cache_read
        + usage.cache_creation_input_tokens * WORST.cache_write_1h
    ) / MILLION + (usage.web_search_requests + usage.other_server_tool_requests) * WEB_SEARCH_USD
    return float(total)
