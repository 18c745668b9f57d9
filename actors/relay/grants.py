"""Run tokens: one short-lived random token per run, stored only as its SHA-256.

A token is the run's ``ANTHROPIC_API_KEY`` as far as the CLI knows. It dies with the run: the
executor closes it when the run ends, the relay closes it on the run's terminal events (any
process's), on a cancel request, on a budget refusal and when its lifetime runs out. A closed
grant is kept for a while so an orphan's call is refused as ``run_ended`` (402) and attributed
to its run; it never becomes valid again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

import anyio

from events.relay import RefusalReason

TOKEN_PREFIX = "crr_"
KEEP_ENDED = 10_000
"""Closed grants remembered (oldest forgotten first; a forgotten token is merely unknown)."""


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class Grant:
    """What the relay knows about one run's token."""

    def __init__(
        self,
        run_id: str,
        job_id: str | None,
        budget_usd: float | None,
        digest: bytes,
        expires_at: float,
    ) -> None:
        self.run_id = run_id
        self.job_id = job_id
        self.budget_usd = budget_usd
        self.digest = digest
        self.expires_at = expires_at
        self.spent_usd = 0.0
        """Charged against the budget: known costs plus worst-case bounds of unknown ones."""
        self.calls = 0
        self.reserved_usd = 0.0
        """Held by this run's calls in flight (their most expensive output)."""
        self.ended: str | None = None
        self.refusal: tuple[RefusalReason, str] | None = None
        """The budget refusal that ended the run, for its terminal event."""
        self.streams: set[anyio.CancelScope] = set()
        self.refused_events = 0

    def end(self, why: str) -> None:
        """Refuse every later call and cut the calls in flight (revoke first, then cut)."""
        if self.ended is None:
            self.ended = why
        for scope in list(self.streams):
            scope.cancel()


class Grants:
    """Every live (and recently ended) grant, by token digest and by run id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_digest: dict[bytes, Grant] = {}
        self._by_run: OrderedDict[str, Grant] = OrderedDict()

    def mint(
        self, run_id: str, job_id: str | None, budget_usd: float | None, ttl: float
    ) -> tuple[str, Grant]:
        """A fresh token for ``run_id`` (a run asking again gets a new one; the old one ends)."""
        old = self._by_run.get(run_id)
        if old is not None:
            old.end("replaced by a new token")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        grant = Grant(run_id, job_id, budget_usd, token_hash(token), self.clock() + ttl)
        self._by_digest[grant.digest] = grant
        self._by_run[run_id] = grant
        self._by_run.move_to_end(run_id)
        self._forget_old()
        return token, grant

    def find(self, token: str) -> Grant | None:
        """The grant of ``token`` (ended or not), or ``None``; the digest is compared in
        constant time after the lookup."""
        digest = token_hash(token)
        grant = self._by_digest.get(digest)
        if grant is None or not hmac.compare_digest(grant.digest, digest):
            return None
        if grant.ended is None and self.clock() > grant.expires_at:
            grant.end("the run's token expired")
        return grant

    def of_run(self, run_id: str) -> Grant | None:
        return self._by_run.get(run_id)

    def end(self, run_id: str, why: str) -> bool:
        grant = self._by_run.get(run_id)
        if grant is None:
            return False
        grant.end(why)
        return True

    def end_all(self, why: str) -> None:
        for grant in list(self._by_run.values()):
            grant.end(why)

    @property
    def live(self) -> int:
        return sum(1 for g in self._by_run.values() if g.ended is None)

    def _forget_old(self) -> None:
        while len(self._by_run) > KEEP_ENDED:
            run_id, grant = next(iter(self._by_run.items()))
            if grant.ended is None:
                grant.end("forgotten")
            del self._by_run[run_id]
            self._by_digest.pop(grant.digest, None)
