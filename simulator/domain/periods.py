"""Calendar periods of the simulator clock, in UTC, for period caps."""

from __future__ import annotations

from datetime import UTC, datetime

from simulator.domain.models import PeriodCaps


def period_keys(at: datetime) -> tuple[str, str, str]:
    """Day, ISO week (from Monday) and month that `at` falls in, as counter keys."""
    at = at.astimezone(UTC)
    year, week, _ = at.isocalendar()
    return (f"d:{at:%Y-%m-%d}", f"w:{year}-W{week:02d}", f"m:{at:%Y-%m}")


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
