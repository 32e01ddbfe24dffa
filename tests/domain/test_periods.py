"""Calendar periods for period caps: day, ISO week and month of a moment, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from simulator.domain.periods import period_keys

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


def test_keys_name_the_utc_day_iso_week_and_month() -> None:
    # 2027-01-01 is a Friday of ISO week 53 of 2026
    assert period_keys(datetime(2027, 1, 1, 23, 59, tzinfo=UTC)) == (
        "d:2027-01-01",
        "w:2026-W53",
        "m:2027-01",
    )
    # 00:30 in Berlin (+01:00) is still the previous day in UTC
    berlin = timezone(timedelta(hours=1))
    assert period_keys(datetime(2026, 11, 28, 0, 30, tzinfo=berlin))[0] == "d:2026-11-27"


@given(moments, offsets)
def test_a_moment_keys_as_its_utc_day_in_any_offset(at: datetime, offset: timezone) -> None:
    # the keys as formatted from the moment itself (they are kept per UTC day)
    day = at.astimezone(UTC)
    year, week, _ = day.isocalendar()
    expected = (f"d:{day:%Y-%m-%d}", f"w:{year}-W{week:02d}", f"m:{day:%Y-%m}")
    assert period_keys(at.astimezone(offset)) == expected
    assert period_keys(at) == expected
