"""Load shapes for the scenarios: spike, step ramp and soak, as locust `LoadTestShape`s.

They read locust's own `--users` (the peak) and `--run-time` (the length), so
`locust -f loadtests/webhook_burst.py --shape step --steps 5 -u 50 -t 2m` means what it
says; the profiles themselves are in `loadtests/profiles.py`. Import one class by name into
a locustfile to use it alone, or `ShapeFromOptions`, which follows `--shape`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from locust import LoadTestShape

from loadtests.profiles import SHAPES, Profile, ShapeName

DEFAULT_SECONDS = 60.0  # when the run has no --run-time (a web UI run without one)


def add_arguments(parser: Any, default: ShapeName = "spike") -> None:
    # On the parser itself (not a group), so locust's web UI shows them too.
    parser.add_argument(
        "--shape",
        choices=SHAPES,
        default=default,
        env_var="OPTISIM_SHAPE",
        help="spike: a tenth of --users, all of them for a fifth of the run, back; "
        "step: --users in --steps equal steps; soak: --users all along",
    )
    parser.add_argument(
        "--steps", type=int, default=4, env_var="OPTISIM_STEPS", help="steps of the step shape"
    )


def profile_of(options: Any, shape: ShapeName) -> Profile:
    run_time = getattr(options, "run_time", None)
    return Profile(
        shape,
        max(1, int(getattr(options, "num_users", None) or 1)),
        float(run_time) if run_time else DEFAULT_SECONDS,
        max(1, int(getattr(options, "steps", 4) or 4)),
    )


class _ProfileShape(LoadTestShape):
    abstract = True
    use_common_options = True  # --users and --run-time are the peak and the length
    shape: ClassVar[ShapeName]

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        return profile_of(self.runner.environment.parsed_options, self.shape).at(
            self.get_run_time()
        )


class SpikeShape(_ProfileShape):
    shape = "spike"


class StepRampShape(_ProfileShape):
    shape = "step"


class SoakShape(_ProfileShape):
    shape = "soak"


class ShapeFromOptions(LoadTestShape):
    """The shape named by `--shape`."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        shape: ShapeName = getattr(options, "shape", "spike")
        return profile_of(options, shape).at(self.get_run_time())
