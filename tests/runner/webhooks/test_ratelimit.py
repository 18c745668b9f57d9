"""Token-bucket math on an injected monotonic clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.webhooks.ratelimit import RateDecision, RateLimiter, TokenBucket


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_burst_then_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.check("wh", rate_per_minute=60.0, burst=3).allowed for _ in range(3)] == [
        True,
        True,
        True,
    ]
    denied = limiter.check("wh", rate_per_minute=60.0, burst=3)
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(1.0)  # 60/min = 1 token per second
    assert denied.retry_after_header == "1"
    clock.advance(0.5)
    half = limiter.check("wh", rate_per_minute=60.0, burst=3)
    assert not half.allowed and half.retry_after == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.check("wh", rate_per_minute=60.0, burst=3).allowed
    assert not limiter.check("wh", rate_per_minute=60.0, burst=3).allowed


def test_refill_caps_at_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for _ in range(2):
        limiter.check("k", rate_per_minute=6.0, burst=2)
    clock.advance(3600)
    results = [limiter.check("k", rate_per_minute=6.0, burst=2).allowed for _ in range(3)]
    assert results == [True, True, False]


def test_slow_rate_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert limiter.check("k", rate_per_minute=2.0, burst=1).allowed
    denied = limiter.check("k", rate_per_minute=2.0, burst=1)
    assert denied.retry_after == pytest.approx(30.0)
    assert denied.retry_after_header == "30"
    clock.advance(29.9)
    assert not limiter.check("k", rate_per_minute=2.0, burst=1).allowed
    clock.advance(0.1)
    assert limiter.check("k", rate_per_minute=2.0, burst=1).allowed


def test_retry_after_header_rounds_up() -> None:
    assert RateDecision(allowed=False, retry_after=0.01).retry_after_header == "1"
    assert RateDecision(allowed=False, retry_after=2.2).retry_after_header == "3"


def test_keys_are_independent() -> None:
    limiter = RateLimiter(clock=FakeClock())
    assert limiter.check("a", rate_per_minute=1, burst=1).allowed
    assert not limiter.check("a", rate_per_minute=1, burst=1).allowed
    assert limiter.check("b", rate_per_minute=1, burst=1).allowed


def test_settings_change_applies() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for _ in range(10):
        limiter.check("k", rate_per_minute=60, burst=10)
    assert not limiter.check("k", rate_per_minute=60, burst=10).allowed
    clock.advance(1)
    assert limiter.check("k", rate_per_minute=600, burst=2).allowed  # 1 token earned, spent
    clock.advance(0.1)
    assert limiter.check("k", rate_per_minute=600, burst=2).allowed  # faster refill now
    clock.advance(100)
    results = [limiter.check("k", rate_per_minute=600, burst=2).allowed for _ in range(3)]
    assert results == [True, True, False]  # lowered burst caps the bucket


def test_clock_going_backwards_earns_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, 1, clock.now)
    assert bucket.take(clock.now).allowed
    clock.advance(-100)
    assert not bucket.take(clock.now).allowed
    clock.advance(100.5)
    assert not bucket.take(clock.now).allowed
    clock.advance(0.5)
    assert bucket.take(clock.now).allowed


def test_cost_and_remaining() -> None:
    limiter = RateLimiter(clock=FakeClock())
    first = limiter.check("k", rate_per_minute=60, burst=5, cost=3)
    assert first.allowed and first.remaining == pytest.approx(2)
    denied = limiter.check("k", rate_per_minute=60, burst=5, cost=3)
    assert not denied.allowed and denied.retry_after == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_minute": 0, "burst": 1},
        {"rate_per_minute": -1, "burst": 1},
        {"rate_per_minute": float("nan"), "burst": 1},
        {"rate_per_minute": float("inf"), "burst": 1},
        {"rate_per_minute": 1, "burst": 0},
        {"rate_per_minute": 1, "burst": 1, "cost": 2},
        {"rate_per_minute": 1, "burst": 1, "cost": 0},
    ],
)
def test_bad_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(clock=FakeClock()).check("k", **kwargs)  # type: ignore[arg-type]


def test_max_keys_evicts_least_recently_used() -> None:
    limiter = RateLimiter(clock=FakeClock(), max_keys=2)
    limiter.check("a", rate_per_minute=1.0, burst=1)
    limiter.check("b", rate_per_minute=1.0, burst=1)
    limiter.check("a", rate_per_minute=1.0, burst=1)  # a is now most recent
    limiter.check("c", rate_per_minute=1.0, burst=1)  # evicts b
    assert len(limiter) == 2
    assert not limiter.check("a", rate_per_minute=1.0, burst=1).allowed  # still remembered
    assert limiter.check("b", rate_per_minute=1.0, burst=1).allowed  # forgotten: full bucket again
    limiter.reset("b")
    assert limiter.check("b", rate_per_minute=1.0, burst=1).allowed
    with pytest.raises(ValueError):
        RateLimiter(max_keys=0)


def test_rejection_events_per_source() -> None:
    """The same limiter caps how many WebhookRejected events one source can cause."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    recorded = 0
    for _ in range(1000):
        if limiter.check("reject:203.0.113.9", rate_per_minute=10, burst=5).allowed:
            recorded += 1
        clock.advance(0.01)  # 10 s of attack
    assert recorded == 5 + 1  # the burst, plus one token earned over 10 s at 10/min


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=10_000),
    burst=st.integers(min_value=1, max_value=100),
    steps=st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=50),
)
def test_never_exceeds_rate_plus_burst(rate: float, burst: int, steps: list[float]) -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(clock=clock)
    allowed = 0
    for step in steps:
        clock.advance(step)
        decision = limiter.check("k", rate_per_minute=rate, burst=burst)
        allowed += decision.allowed
        assert decision.retry_after >= 0
        if not decision.allowed:
            assert decision.retry_after <= 60.0 / rate + 1e-9
    assert allowed <= burst + clock.now * rate / 60.0 + 1e-6
