"""What every service needs: the store, the wall clock, the id source and options."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from random import Random
from threading import Lock
from typing import Any

from simulator.domain.approvals import DuplicateMode
from simulator.domain.models import ClockState, PopulationSpec, Tenant
from simulator.population import Chosen, Population
from simulator.store.base import Store, Tx


class RandomIds:
    """Unique ids across several server processes: a random 48-bit node per process plus a
    counter (one OS random call per process instead of one per id, which cost 6 % of a
    1,000-customer validation)."""

    def __init__(self) -> None:
        self._node = secrets.token_hex(6)
        self._count = itertools.count(1)

    def next(self, prefix: str) -> str:
        return f"{prefix}_{self._node}{next(self._count):x}"


class SeededIds:
    """Replayable ids from a seed (single process): the same run gives the same ids."""

    def __init__(self, seed: int) -> None:
        self._random = Random(seed)
        self._lock = Lock()

    def next(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_{self._random.getrandbits(64):016x}"


@dataclass
class Runtime:
    """The simulator's moving parts, built once by `create_app` and passed to services."""

    store: Store
    wall: Callable[[], float] = time.time
    ids: RandomIds | SeededIds = field(default_factory=RandomIds)
    duplicates: DuplicateMode = "reject"
    token_ttl_s: float = 1200.0
    login_limits: bool = True  # 429 on a login too soon (wire-contract §2, "Login limits")
    max_tenants: int = 20_000  # tenants created over the control API refuse beyond this

    def now(self, tenant: Tenant) -> datetime:
        """The tenant's simulator clock (wire-contract §8: realtime by default)."""
        return clock_now(tenant.clock, self.wall())

    # (tenant id, chosen version) → the population with its chosen customers, so a tenant
    # that has some reads them from the store once per change, not once per request.
    _chosen: dict[tuple[str, str], Population] = field(default_factory=dict, repr=False)

    def forget(self, tenant_id: str) -> None:
        """The tenant was deleted: drop its cached populations."""
        for key in [k for k in self._chosen if k[0] == tenant_id]:
            self._chosen.pop(key, None)

    def population(self, tenant: Tenant, tx: Tx) -> Population:
        """The tenant's population: generated customers, plus its chosen ones if any."""
        spec = tenant.population
        version = spec.chosen_version
        if version is None:
            return population_of(spec)
        key = (tenant.id, version)
        found = self._chosen.get(key)
        if found is None:
            found = population_of(spec, tx.customers())
            if len(self._chosen) >= 256:
                self._chosen.clear()
            self._chosen[key] = found
        return found


def clock_now(clock: ClockState, wall: float) -> datetime:
    if clock.mode == "manual" and clock.manual_now is not None:
        return clock.manual_now
    return datetime.fromtimestamp(wall, UTC) + timedelta(seconds=clock.offset_s)


def population_of(
    spec: PopulationSpec, chosen: Sequence[tuple[str, Mapping[str, Any]]] = ()
) -> Population:
    generated = Population(
        spec.seed, spec.size, spec.id_prefix, spec.id_width, spec.self_excluded_per_mille
    )
    if not chosen:
        return generated
    return replace(
        generated, chosen=Chosen.of(chosen, lambda cid: generated.generated_index(cid) is not None)
    )
