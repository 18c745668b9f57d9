"""Cron in IANA zones: DST on both transitions behaves as documented — never zero or two runs."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.cron import CronError, describe, fires_between, next_fires, validate_cron

BXL = ZoneInfo("Europe/Brussels")
UTC = dt.UTC


def local(fires: list[dt.datetime]) -> list[str]:
    return [f.astimezone(BXL).isoformat() for f in fires]


def test_spring_forward_fires_once_at_the_end_of_the_gap() -> None:
    fires = next_fires("30 2 * * *", "Europe/Brussels", dt.datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert local(fires) == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day: once, at 03:00
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_fall_back_fires_once_at_the_first_occurrence() -> None:
    fires = next_fires(
        "30 2 * * *", "Europe/Brussels", dt.datetime(2026, 10, 24, 12, tzinfo=UTC), 2
    )
    assert local(fires) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_fall_back_day_has_exactly_one_fire_of_a_daily_job() -> None:
    start = dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    end = dt.datetime(2026, 10, 25, 22, 0, tzinfo=UTC)
    assert len(fires_between("30 2 * * *", "Europe/Brussels", start, end)) == 1


def test_spring_forward_day_has_exactly_one_fire_of_a_daily_job() -> None:
    start = dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    end = dt.datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert len(fires_between("30 2 * * *", "Europe/Brussels", start, end)) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["*/7 * * * *", "0 * * * *", "30 2 * * *", "15 1-3 * * *", "0 9 * * 1-5"]),
    st.sampled_from(
        ["UTC", "Europe/Brussels", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
    ),
    st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 1, 1)),
)
def test_fires_strictly_increase_and_match_the_local_schedule(
    expr: str, tz: str, start: dt.datetime
) -> None:
    fires = next_fires(expr, tz, start.replace(tzinfo=UTC), 20)
    assert fires == sorted(set(fires)), "no fire repeats and order is strict"
    assert all(f > start.replace(tzinfo=UTC) for f in fires)
    minute = expr.split()[0]
    for f in fires:
        loc = f.astimezone(ZoneInfo(tz))
        if minute.isdigit():
            # The wall-clock minute matches, except a fire moved to the end of a DST gap.
            assert loc.minute == int(minute) or loc.minute == 0 or tz == "Australia/Lord_Howe"


@pytest.mark.parametrize("expr", ["", "* * * *", "60 * * * *", "* 24 * * *", "a b c d e"])
def test_invalid_expressions_say_why_and_show_an_example(expr: str) -> None:
    with pytest.raises(CronError) as exc:
        validate_cron(expr)
    assert "0 7 * * 1-5" in exc.value.message and exc.value.field == "cron"


def test_schedule_in_words() -> None:
    assert describe("0 7 * * 1-5") == "on weekdays at 07:00"
    assert describe("*/15 * * * *") == "every 15 minutes"
    assert describe("30 2 * * *") == "every day at 02:30"
