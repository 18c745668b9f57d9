"""Token buckets per key: per-webhook delivery limits (429 + Retry-After) and a cap on how many
``WebhookRejected`` events one source can cause.

A bucket holds at most ``burst`` tokens and refills at ``rate_per_minute / 60`` tokens per second
on a monotonic clock. Not thread-safe: use it from one event loop.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateDecision", "RateLimiter", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """``allowed``, and when not, ``retry_after`` seconds until enough tokens are back."""

    allowed: bool
    retry_after: float = 0.0
    remaining: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


def _check(rate_per_minute: float, burst: int, cost: float) -> None:
    if not rate_per_minute > 0 or math.isinf(rate_per_minute):
        raise ValueError("rate_per_minute must be a positive finite number")
    if burst < 1:
        raise ValueError("burst must be at least 1")
    if not 0 < cost <= burst:
        raise ValueError("cost must be positive and at most burst")


class TokenBucket:
    """One bucket; starts full."""

    __slots__ = ("burst", "rate_per_minute", "tokens", "updated")

    def __init__(self, rate_per_minute: float, burst: int, now: float) -> None:
        _check(rate_per_minute, burst, 1)
        self.rate_per_minute = rate_per_minute
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update (a clock going backwards earns none)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_minute / 60.0)
        self.updated = max(self.updated, now)

    def take(self, now: float, cost: float = 1.0) -> RateDecision:
        """Spend *cost* tokens if available."""
        self.refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return RateDecision(allowed=True, remaining=self.tokens)
        wait = (cost - self.tokens) * 60.0 / self.rate_per_minute
        return RateDecision(allowed=False, retry_after=wait, remaining=self.tokens)


class RateLimiter:
    """Token buckets by key, each with its own rate and burst (changed on the fly when the
    endpoint's settings change). Holds at most *max_keys* buckets, evicting the least recently
    used — an evicted key starts again with a full bucket."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(
        self, key: str, *, rate_per_minute: float, burst: int, cost: float = 1.0
    ) -> RateDecision:
        """Take *cost* tokens from *key*'s bucket; raises ValueError only for a bad limit."""
        _check(rate_per_minute, burst, cost)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(rate_per_minute, burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.refill(now)
            if bucket.rate_per_minute != rate_per_minute or bucket.burst != burst:
                bucket.rate_per_minute = rate_per_minute
                bucket.burst = burst
                bucket.tokens = min(bucket.tokens, float(burst))
        return bucket.take(now, cost)

    def reset(self, key: str) -> None:
        """Forget *key* (e.g. when its webhook is deleted)."""
        self._buckets.pop(key, None)
