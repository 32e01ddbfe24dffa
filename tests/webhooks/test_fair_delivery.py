"""Many tenants, one dispatcher (issue 17): a tenant's dead listener delays only its own
deliveries; delivery claims are fair across tenants; the relay learns of new outbox events
from the store instead of visiting every tenant."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from simulator.settings import SimSettings
from simulator.store.deliveries import MemoryDeliveryLog
from simulator.store.memory import MemoryStore, MemoryTx
from simulator.store.sqlite import SqliteStore, SqliteTx
from tests.helpers import Sim
from tests.webhooks.support import HOST, Listener, configure, emit, ok, register_ce, wait_until


class HungListener:
    """A 127.0.0.1 server that accepts connections and never answers (nor reads)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(1024)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def url(self) -> str:
        return f"http://{HOST}:{self.port}/ce"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def hung() -> Iterator[HungListener]:
    server = HungListener()
    yield server
    server.close()


def second_tenant(sim: Sim) -> tuple[Sim, str]:
    created = ok(sim.post("/_sim/tenants", {"builtin": "demo", "name": "healthy"}), 201)
    return sim.as_key(created["keys"]["admin"]), created["tenantId"]


@pytest.mark.slow
def test_a_hung_listener_with_a_backlog_delays_only_its_own_tenant(
    make_sim: Callable[..., Sim], listener: Listener, hung: HungListener
) -> None:
    # A process-wide bound well below the hung backlog: before lanes, the hung backlog
    # filled it and was always first in due order, so the healthy tenant waited for
    # timeouts (150 s measured at 5,000 events and the default bound of 4,000).
    sim = make_sim(settings=SimSettings(webhook_in_flight=300))
    configure(sim, timeoutSeconds=60, concurrency=16)
    register_ce(sim, hung.url())
    emit(sim, 1_000)
    wait_until(lambda: len(hung.accepted) >= 16, timeout=20, what="the hung lane to fill")

    healthy, _ = second_tenant(sim)
    configure(healthy, timeoutSeconds=5)
    register_ce(healthy, listener.url("/ce"))
    started = time.monotonic()
    emit(healthy, 50)
    listener.wait_for(50, timeout=15)
    took = time.monotonic() - started
    assert took < 10, took  # alone it takes well under a second; the hung one takes 60 s
    summary = ok(healthy.get("/_sim/deliveries/summary"))
    assert summary["byStatus"] == {"delivered": 50} or wait_until(
        lambda: ok(healthy.get("/_sim/deliveries/summary"))["byStatus"] == {"delivered": 50},
        timeout=5,
        what="the healthy deliveries recorded",
    )
    # The hung listener holds only its lane's share: its tenant's concurrency, not the
    # process-wide bound.
    assert len(hung.accepted) <= 16, len(hung.accepted)
    assert ok(sim.get("/_sim/deliveries/summary"))["byStatus"].get("delivered", 0) == 0


def test_claims_take_turns_between_tenants_and_respect_each_lanes_room() -> None:
    from simulator.domain.models import Delivery

    log = MemoryDeliveryLog()
    log.ingest("big", [Delivery("big", f"b{i}", i, "triggered", 1, b"{}") for i in range(100)], 100)
    log.ingest("small", [Delivery("small", f"s{i}", i, "triggered", 1, b"{}") for i in range(5)], 5)
    claimed = log.claim(1.0, 10, 30.0, lambda tenant, kind: 100)
    assert sorted(d.tenant_id for d in claimed).count("small") == 5
    rest = log.claim(1.0, 10, 30.0, lambda tenant, kind: 0 if tenant == "big" else 100)
    assert rest == []  # big has no room, small has nothing due left
    third = log.claim(1.0, 1000, 30.0, lambda tenant, kind: 3)
    assert [d.tenant_id for d in third] == ["big"] * 3


def test_the_store_names_the_tenants_whose_outbox_grew(
    make_sim: Callable[..., Sim], store_kind: str
) -> None:
    sim = make_sim()
    store = sim.client.app.state.runtime.store  # type: ignore[attr-defined]
    mark, _ = store.outbox_since(0)
    assert store.outbox_since(mark) == (mark, [])  # nothing written: nothing named
    healthy, tenant_id = second_tenant(sim)
    emit(healthy, 2)
    newer, changed = store.outbox_since(mark)
    assert newer != mark and changed == [tenant_id]
    assert store.outbox_since(newer) == (newer, [])
    assert isinstance(store, SqliteStore) == (store_kind == "sqlite")


class CountingMemoryStore(MemoryStore):
    """The memory store, counting the transactions opened per tenant."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: Counter[str] = Counter()

    @contextmanager
    def transaction(self, tenant_id: str) -> Iterator[MemoryTx]:
        self.opened[tenant_id] += 1
        with super().transaction(tenant_id) as tx:
            yield tx


class CountingSqliteStore(SqliteStore):
    """The SQLite store, counting the transactions opened per tenant."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.opened: Counter[str] = Counter()

    @contextmanager
    def transaction(self, tenant_id: str) -> Iterator[SqliteTx]:
        self.opened[tenant_id] += 1
        with super().transaction(tenant_id) as tx:
            yield tx


def test_idle_tenants_cost_the_relay_and_the_sweep_nothing(
    make_sim: Callable[..., Sim], store_kind: str, tmp_path: Path
) -> None:
    store: CountingMemoryStore | CountingSqliteStore = (
        CountingMemoryStore() if store_kind == "memory" else CountingSqliteStore(tmp_path / "c.db")
    )
    sim = make_sim(store=store, settings=SimSettings(sweep_seconds=0.02))
    idle = [
        ok(sim.post("/_sim/tenants", {"name": f"idle-{i}"}), 201)["tenantId"] for i in range(30)
    ]
    time.sleep(0.3)  # the sweep visits each new tenant once, then leaves it alone
    before = {t: store.opened[t] for t in idle}
    time.sleep(0.5)  # ten relay polls, 25 sweep ticks
    assert {t: store.opened[t] for t in idle} == before
