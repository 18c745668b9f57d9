"""Price table math (hypothesis) and the meter reading usage from any chunking of a reply."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.relay.budgets import Ledger, Limits
from actors.relay.grants import Grant, Grants
from actors.relay.meter import Meter
from actors.relay.prices import (
    PRICES,
    Usage,
    base_model,
    charged_usd,
    cost_usd,
    output_usd_per_token,
    price_of,
)
from tests.fakes.anthropic_api import Text, ToolUse, Turn, final_message, sse_events

tokens = st.integers(min_value=0, max_value=2_000_000)
models = st.sampled_from(sorted(PRICES))


def usage(i: int, o: int, r: int, w: int, w1: int = 0) -> Usage:
    return Usage(
        input_tokens=i,
        output_tokens=o,
        cache_read_input_tokens=r,
        cache_creation_input_tokens=w,
        cache_creation_1h_input_tokens=min(w1, w),
    )


def test_known_figures_match_the_cli() -> None:
    u = usage(240, 14, 60, 20)
    assert cost_usd("claude-sonnet-4-5", u) == pytest.approx(0.001023)
    assert cost_usd("claude-haiku-4-5", u) == pytest.approx(0.000341)
    # the reference's check: 120 in, 7 out, 30 read, 10 write (5m)
    u2 = usage(120, 7, 30, 10)
    assert cost_usd("claude-opus-5-5", u2) == pytest.approx(
        (120 * 4 + 7 * 20 + 30 * 0.2 + 10 * 5) / 1e6
    )


def test_unknown_is_never_zero() -> None:
    u = usage(1000, 1000, 0, 0)
    assert cost_usd("gpt-5", u) is None
    assert cost_usd("claude-sonnet-4-5", Usage(input_tokens=10, speed="fast")) is None
    assert cost_usd("claude-sonnet-4-5", Usage(other_server_tool_requests=1)) is None
    assert charged_usd("gpt-5", u) > cost_usd("claude-fable-5-1", u)  # type: ignore[operator]
    assert output_usd_per_token("gpt-5") >= output_usd_per_token("claude-fable-5-1")


def test_suffixes_dates_and_bands() -> None:
    assert base_model("claude-opus-4-6[1m]") == "claude-opus-4-6"
    assert base_model("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert base_model("us.anthropic.claude-opus-5-5-v1:0") == "claude-opus-5-5"
    before = price_of("claude-sonnet-5-5", dt.date(2026, 10, 6))
    after = price_of("claude-sonnet-5-5", dt.date(2026, 10, 7))
    assert before and after and before.cache_read == 2 * after.cache_read
    small = cost_usd("claude-haiku-5-5", usage(100_000, 1000, 0, 0))
    big = cost_usd("claude-haiku-5-5", usage(100_001, 1000, 0, 0))
    assert small and big and big > 4.9 * small  # every token of the request at the high band
    one_h = cost_usd("claude-sonnet-4-5", usage(0, 0, 0, 1000, 1000))
    five_m = cost_usd("claude-sonnet-4-5", usage(0, 0, 0, 1000, 0))
    assert one_h == pytest.approx(0.006) and five_m == pytest.approx(0.00375)
    assert cost_usd("claude-sonnet-4-5", Usage(web_search_requests=3)) == pytest.approx(0.03)


@settings(max_examples=200, deadline=None)
@given(models, tokens, tokens, tokens, tokens, tokens, tokens, tokens, tokens)
def test_cost_is_additive_and_monotone(
    model: str, i1: int, o1: int, r1: int, w1: int, i2: int, o2: int, r2: int, w2: int
) -> None:
    if model == "claude-haiku-5-5":  # the band makes it piecewise; checked above
        i1, i2, r1, r2, w1, w2 = (min(x, 16_000) for x in (i1, i2, r1, r2, w1, w2))
    a, b = usage(i1, o1, r1, w1), usage(i2, o2, r2, w2)
    both = usage(i1 + i2, o1 + o2, r1 + r2, w1 + w2)
    ca, cb, cab = cost_usd(model, a), cost_usd(model, b), cost_usd(model, both)
    assert ca is not None and cb is not None and cab is not None
    assert cab == pytest.approx(ca + cb, rel=1e-9, abs=1e-12)
    assert ca >= 0 and charged_usd(model, a) == ca
    more = usage(i1 + 1, o1, r1, w1)
    assert (cost_usd(model, more) or 0) > ca


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1e-6, max_value=50), st.floats(min_value=0, max_value=60), models)
def test_budget_cap_never_buys_more_output_than_is_left(
    budget: float, spent: float, model: str
) -> None:
    ledger = Ledger(clock=lambda: 1_800_000_000.0)
    grant = Grant("r", "j", budget, b"x" * 32, 1e18)
    grant.spent_usd = spent
    d = ledger.check(grant, model, 128_000)
    if spent >= budget:
        assert d.refuse == "budget_run"
        return
    if d.refuse is None and d.max_tokens is not None:
        assert d.max_tokens * output_usd_per_token(model) <= budget - spent + 1e-12
        assert d.max_tokens < 128_000
    elif d.refuse is None:
        assert 128_000 * output_usd_per_token(model) <= budget - spent + 1e-9


def test_the_tightest_limit_wins() -> None:
    now = 1_800_000_000.0
    ledger = Ledger(clock=lambda: now)
    ledger.limits = Limits(job_daily_usd=1.0, daily_usd=10.0)
    grant = Grant("r", "j", 5.0, b"x" * 32, 1e18)
    from actors.relay.budgets import utc_day

    ledger.add(utc_day(now), "j", 1.0, "c1", mine=True)
    assert ledger.check(grant, "claude-sonnet-4-5", 10).refuse == "budget_job_day"
    ledger.add(utc_day(now), "j", 1.0, "c1", mine=False)  # our own echo from the bus
    assert ledger.job_day[(utc_day(now), "j")] == 1.0
    other = Grant("r2", "k", None, b"y" * 32, 1e18)
    assert ledger.check(other, "claude-sonnet-4-5", 10).refuse is None
    ledger.add(utc_day(now), "m", 9.5, "c2", mine=False)  # another job, another process
    assert ledger.check(other, "claude-sonnet-4-5", 10).refuse == "budget_day"


def test_tokens_are_random_hashed_and_die() -> None:
    grants = Grants(clock=lambda: 100.0)
    t1, g1 = grants.mint("r1", "j", None, 10)
    t2, _ = grants.mint("r2", "j", None, 10)
    assert t1 != t2 and len(t1) > 40 and t1.startswith("crr_")
    assert grants.find(t1) is g1 and grants.find(t1 + "x") is None
    assert t1 not in repr(vars(g1))  # only the digest is kept
    t1b, _ = grants.mint("r1", "j", None, 10)  # a new token for the run ends the old one
    assert grants.find(t1).ended is not None  # type: ignore[union-attr]
    assert grants.find(t1b).ended is None  # type: ignore[union-attr]
    late = Grants(clock=lambda: 1000.0)
    t3, _ = late.mint("r3", None, None, -1)
    assert late.find(t3).ended == "the run's token expired"  # type: ignore[union-attr]


def _sse(turn: Turn) -> bytes:
    evs = list(sse_events(turn, msg_id="msg_1", model="claude-sonnet-4-5"))
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in evs)


TURN = Turn(
    [Text("hello event: message_delta \n\n world " * 20, chunk=9), ToolUse("Read", {"p": "x"})],
    input_tokens=321,
    output_tokens=77,
    cache_read_input_tokens=11,
    cache_creation_input_tokens=5,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=0, max_size=60))
def test_meter_reads_usage_from_any_chunking(cuts: list[int]) -> None:
    data = _sse(TURN)
    meter = Meter(streaming=True)
    pos = 0
    for n in cuts:
        meter.feed(data[pos : pos + n])
        pos += n
    meter.feed(data[pos:])
    meter.finish()
    u = meter.usage
    assert (u.input_tokens, u.output_tokens) == (321, 77)
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (11, 5)
    assert meter.complete and meter.model == "claude-sonnet-4-5" and meter.message_id == "msg_1"


def test_meter_cut_stream_and_json_replies() -> None:
    data = _sse(TURN)
    cut = Meter(streaming=True)
    cut.feed(data[: data.index(b"event: message_delta")])
    cut.finish()
    assert not cut.complete and cut.usage.output_tokens == 1 and cut.usage.input_tokens == 321
    evs = list(sse_events(TURN, msg_id="msg_2", model="claude-haiku-4-5"))
    m = Meter(streaming=False)
    m.feed(json.dumps(final_message(evs)).encode())
    m.finish()
    assert m.complete and m.usage.output_tokens == 77 and m.model == "claude-haiku-4-5"
    junk = Meter(streaming=False)
    junk.feed(b"<html>not json")
    junk.finish()
    assert not junk.complete and junk.usage == Usage()
    nested = Meter(streaming=False)
    nested.feed(
        json.dumps(
            {
                "type": "message",
                "usage": {
                    "input_tokens": 5,
                    "cache_creation_input_tokens": 100,
                    "cache_creation": {"ephemeral_1h_input_tokens": 40},
                    "server_tool_use": {"web_search_requests": 2},
                },
            }
        ).encode()
    )
    nested.finish()
    assert nested.usage.cache_creation_1h_input_tokens == 40
    assert nested.usage.web_search_requests == 2
