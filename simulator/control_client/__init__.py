"""The typed control client of the simulator (`/_sim`): sync and asyncio.

    from simulator.control_client import ControlClient

    with ControlClient("http://127.0.0.1:8080", "demo-admin-key") as sim:
        sim.execute_campaign(48213)

Public: `ControlClient`, `AsyncControlClient`, `TenantAccess`, the errors
(`ControlError`, `InvalidInput`, `Unauthorized`, `NotFound`, `Conflict`, `Unreachable`),
`parse_duration` (`"2h"` is 7200.0 seconds) and the wire models
(`simulator.control_models`, re-exported as `models`).
"""

from simulator import control_models as models
from simulator.control_client.calls import parse_duration
from simulator.control_client.client import AsyncControlClient, ControlClient, TenantAccess
from simulator.control_client.errors import (
    Conflict,
    ControlError,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unreachable,
)

__all__ = [
    "AsyncControlClient",
    "Conflict",
    "ControlClient",
    "ControlError",
    "InvalidInput",
    "NotFound",
    "TenantAccess",
    "Unauthorized",
    "Unreachable",
    "models",
    "parse_duration",
]
