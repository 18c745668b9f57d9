"""Cron expressions in IANA time zones: validation, next fires, and the schedule in words.

DST, as documented in the README: a wall-clock time that does not exist on the spring-forward
day (02:30 in Europe/Brussels) fires once, at the first valid instant after the gap (03:00);
a wall-clock time that occurs twice on the fall-back day fires once, at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from croniter import CroniterBadCronError, CroniterBadDateError, croniter


class CronError(ValueError):
    """A cron expression or time zone is invalid; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


_SHIFT_SPAN = dt.timedelta(hours=3)
#: A schedule must fire at least once within this horizon to be accepted.
HORIZON_YEARS = 5
CRON_EXAMPLE = '"0 7 * * 1-5" (07:00 on weekdays)'
UTC = dt.UTC


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` or ``InvalidInput`` naming the problem."""
    try:
        if not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CronError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Brussels' or 'UTC'",
            field="timezone",
        )


def validate_cron(expr: str) -> str:
    """Return the normalised expression, or raise ``InvalidInput`` saying what is wrong."""
    text = " ".join(expr.split())
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise CronError(
            f"invalid cron expression {expr!r}: expected 5 fields (minute hour day-of-month "
            f"month day-of-week), got {len(fields)}; for example {CRON_EXAMPLE}",
            field="cron",
        )
    try:
        croniter(text, dt.datetime(2026, 1, 1, tzinfo=UTC))
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise CronError(
            f"invalid cron expression {expr!r}: {exc}; for example {CRON_EXAMPLE}", field="cron"
        )
    problem = never_fires(text, dt.datetime.now(UTC))
    if problem:
        raise CronError(f"{problem}; for example {CRON_EXAMPLE}", field="cron")
    return text


def never_fires(expr: str, after: dt.datetime, tz: str = "UTC") -> str | None:
    """Why ``expr`` cannot be planned (no fire within ``HORIZON_YEARS``), or None if it can."""
    try:
        fires = next_fires(expr, tz, after, 1)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        return f"cron expression {expr!r} cannot be planned: {exc}"
    horizon = after + dt.timedelta(days=365 * HORIZON_YEARS + 2)
    if not fires or fires[0] > horizon:
        return (
            f"cron expression {expr!r} never fires in the next {HORIZON_YEARS} years "
            "(a date that does not exist, such as 30 February?)"
        )
    return None


def _naive_fires(expr: str, start_local: dt.datetime) -> Iterator[dt.datetime]:
    it = croniter(expr, start_local.replace(tzinfo=None))
    while True:
        try:
            yield it.get_next(dt.datetime)
        except CroniterBadDateError:
            return  # no matching date at all (e.g. 30 February): the schedule has no fires


def fires_after(expr: str, tz: str, after: dt.datetime) -> Iterator[dt.datetime]:
    """Fire instants (aware, UTC) strictly after ``after``, DST handled as documented above.

    Cron is matched against local wall-clock times. Each matching local time maps to exactly
    one instant: a non-existent time moves to the end of the gap, an ambiguous one takes its
    first occurrence (fold=0). Instants are strictly increasing, so none repeats.
    """
    z = zone(tz)
    after_utc = after.astimezone(UTC)
    # Near a DST shift local time is not monotonic: start far enough back that no fire inside
    # the shift is skipped. Elsewhere start just before ``after`` (cheap for frequent crons).
    near_shift = (after_utc - _SHIFT_SPAN).astimezone(z).utcoffset() != (
        after_utc + _SHIFT_SPAN
    ).astimezone(z).utcoffset()
    back = _SHIFT_SPAN if near_shift else dt.timedelta(minutes=1)
    start_local = after_utc.astimezone(z).replace(tzinfo=None) - back
    last: dt.datetime | None = None
    for naive in _naive_fires(expr, start_local):
        instant = _resolve(naive, z)
        if instant <= after_utc or (last is not None and instant <= last):
            continue
        last = instant
        yield instant


def _resolve(naive: dt.datetime, z: ZoneInfo) -> dt.datetime:
    aware = naive.replace(tzinfo=z, fold=0)
    roundtrip = aware.astimezone(UTC).astimezone(z).replace(tzinfo=None)
    if roundtrip != naive:
        # In a spring-forward gap: the first valid instant after it.
        probe = naive
        while True:
            probe += dt.timedelta(minutes=1)
            cand = probe.replace(tzinfo=z, fold=0)
            if cand.astimezone(UTC).astimezone(z).replace(tzinfo=None) == probe:
                return cand.astimezone(UTC)
    return aware.astimezone(UTC)


def next_fires(expr: str, tz: str, after: dt.datetime, count: int) -> list[dt.datetime]:
    out: list[dt.datetime] = []
    for fire in fires_after(expr, tz, after):
        out.append(fire)
        if len(out) >= count:
            break
    return out


def fires_between(expr: str, tz: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Fires with ``start < t <= end`` (bounded to 10,000)."""
    out: list[dt.datetime] = []
    for fire in fires_after(expr, tz, start):
        if fire > end or len(out) >= 10_000:
            break
        out.append(fire)
    return out


_DOW = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def describe(expr: str) -> str:
    """The schedule in words: short phrases for common shapes, cron-descriptor for the rest."""
    minute, hour, dom, month, dow = expr.split()
    if expr == "* * * * *":
        return "every minute"
    if minute.startswith("*/") and hour == "*" and dom == month == dow == "*":
        return f"every {minute[2:]} minutes"
    if minute.isdigit() and hour == "*" and dom == month == dow == "*":
        return f"every hour at minute {int(minute)}"
    if minute.isdigit() and hour.isdigit():
        at = f"at {int(hour):02d}:{int(minute):02d}"
        if dom == month == "*":
            if dow == "*":
                return f"every day {at}"
            if dow == "1-5":
                return f"on weekdays {at}"
            if dow in ("0,6", "6,0"):
                return f"on weekends {at}"
            if dow.isdigit() and int(dow) <= 7:
                return f"every {_DOW[int(dow) % 7]} {at}"
        if dom.isdigit() and month == "*" and dow == "*":
            return f"on day {int(dom)} of every month {at}"
    return _words(expr)


_DESCRIBE = Options()
_DESCRIBE.use_24hour_time_format = True
_DESCRIBE.verbose = False


def _words(expr: str) -> str:
    try:
        text = str(get_description(expr, _DESCRIBE))
    except Exception:  # the library's own errors vary by version; the expression is valid
        return f"cron {expr}"
    return text[:1].lower() + text[1:]
