"""Calendar periods of the simulator clock, in UTC, for period caps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

from simulator.domain.models import PeriodCaps


def period_keys(at: datetime) -> tuple[str, str, str]:
    """Day, ISO week (from Monday) and month that `at` falls in, as counter keys."""
    return _keys_of_day(at.astimezone(UTC).date())


# Per UTC day: formatting the three keys costs ~7 µs, paid by every validateCustomers call
# (a triggered campaign's is one call per event); the clock stays on a day for many calls.
@lru_cache(maxsize=64)
def _keys_of_day(day: date) -> tuple[str, str, str]:
    year, week, _ = day.isocalendar()
    return (f"d:{day:%Y-%m-%d}", f"w:{year}-W{week:02d}", f"m:{day:%Y-%m}")


def caps_by_key(caps: PeriodCaps, keys: tuple[str, ...]) -> list[tuple[str, int]]:
    """Pair each configured cap with the counter key it limits."""
    pairs: list[tuple[str, int]] = []
    for key in keys:
        cap = {"d": caps.daily, "w": caps.weekly, "m": caps.monthly}[key[0]]
        if cap is not None:
            pairs.append((key, cap))
    return pairs


def core_time(at: datetime) -> str:
    """Core API time format, `YYYY-MM-DD HH:MM:SS` in UTC (as in UpdateCustomerPromotionStatus)."""
    # isoformat pads the year to four digits; strftime("%Y") does not below 1000 on glibc.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def iso_time(at: datetime) -> str:
    """ISO 8601 with `Z`, used by CE v2, Promotions, the control API and triggered webhooks."""
    text = at.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
