"""Model relay events: every model call metered at the source, and every refusal.

``ModelCallMetered`` and ``ModelCallRefused`` of a run are written on the run's stream
(``run-<id>``); a call with a token the relay does not know has no run, so its refusal goes to
the stream ``relay``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

RefusalReason = Literal[
    "unknown_token",
    "run_ended",
    "budget_run",
    "budget_job_day",
    "budget_day",
]
"""``budget_run``: the job's per-run budget; ``budget_job_day``: the per-job daily cap;
``budget_day``: the service-wide daily budget."""


class ModelCallMetered(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """One model call as the relay saw it (usage from the upstream reply, cost from our table).

    ``cost_usd`` is ``None`` when the model (or a priced feature it used) is not in the price
    table: unknown, never zero. ``partial``: the reply ended before its final usage (a cut
    stream), so ``output_tokens`` is the last figure seen.
    """

    run_id: str
    job_id: str | None
    call_id: str
    model: str
    status: int
    request_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    cost_usd: float | None = None
    charged_usd: float = 0.0
    """Counted against budgets: ``cost_usd``, or a worst-case bound when the cost is unknown."""
    partial: bool = False
    max_tokens_capped: int | None = None
    """The ``max_tokens`` the relay forwarded instead of the CLI's, to stay within budget."""
    retries: int = 0
    ttfb_ms: float = 0.0
    duration_ms: float = 0.0


class ModelCallRefused(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """The relay answered a call itself (402 for a run that ended or ran out of budget, 401 for
    an unknown token) and never reached the upstream."""

    reason: RefusalReason
    detail: str
    run_id: str = ""
    """Empty for an unknown token (no run to attribute it to)."""
    job_id: str | None = None
    suppressed: int = 0
    """Refusals of the same kind not recorded since the last one (unknown-token floods)."""


RelayEvent = ModelCallMetered | ModelCallRefused
