"""Load profiles as pure functions of elapsed time: how many users, at what spawn rate.

`loadtests/shapes.py` wraps them as locust `LoadTestShape`s; they live apart so they can be
tested without importing locust (which monkey-patches the standard library on import).

- spike: a tenth of the peak, then the peak all at once for a fifth of the run, then back;
- step: the peak reached in equal steps, each held for an equal share of the run;
- soak: the peak from the start to the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ShapeName = Literal["spike", "step", "soak"]
SHAPES: tuple[ShapeName, ...] = ("spike", "step", "soak")

SPIKE_FROM = 0.3  # the spike starts at 30 % of the run ...
SPIKE_UNTIL = 0.5  # ... and ends at 50 %


@dataclass(frozen=True, slots=True)
class Profile:
    """A load profile: `peak` users, `seconds` long; `steps` only matters to `step`."""

    shape: ShapeName
    peak: int
    seconds: float
    steps: int = 4

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, not {self.shape!r}")
        if self.peak < 1 or self.seconds <= 0 or self.steps < 1:
            raise ValueError("peak and steps must be >= 1 and seconds > 0")

    @property
    def base(self) -> int:
        """The users outside a spike: a tenth of the peak, at least one."""
        return max(1, round(self.peak / 10))

    def at(self, elapsed: float) -> tuple[int, float] | None:
        """(users, spawn rate per second) at `elapsed` seconds; None once the run is over.

        Every change is made within a second (spawn rate = the target count), so a spike
        is a spike and not a ramp."""
        if elapsed >= self.seconds:
            return None
        users = self._users(elapsed / self.seconds)
        return users, float(max(users, 1))

    def _users(self, fraction: float) -> int:
        if self.shape == "soak":
            return self.peak
        if self.shape == "spike":
            return self.peak if SPIKE_FROM <= fraction < SPIKE_UNTIL else self.base
        step = min(self.steps - 1, math.floor(fraction * self.steps))
        return max(1, math.ceil(self.peak * (step + 1) / self.steps))
