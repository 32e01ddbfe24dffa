"""Health ceiling: how many requests one locust process can make, against the cheapest
route there is (`GET /_sim/health`).

    locust -f loadtests/health_ceiling.py --host http://127.0.0.1:8900 --headless -u 32 -t 20s

Compare its requests per second with wrk's on the same route (`optisim load
health-ceiling` runs both when wrk is installed): when a scenario's rate gets near this
figure, locust is the bottleneck, not the system under test; add workers (`--processes`).
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, events, task

from loadtests import common

__all__ = ["HealthUser"]


@events.init_command_line_parser.add_listener
def _arguments(parser: Any, **_: Any) -> None:
    common.add_arguments(parser)  # accepted like every scenario's (none is needed here)


class HealthUser(FastHttpUser):
    """No pause between requests: the ceiling is what one process can do."""

    @task
    def health(self) -> None:
        self.client.get("/_sim/health", name="health")
