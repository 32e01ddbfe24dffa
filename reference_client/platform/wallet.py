"""The integrator's own platform: where rewards are activated (step 4 of both flows).

Business rules every `Wallet` keeps:
- A credit carries an `activation_key` (the Promotions `allocationId`). The key is stored
  atomically with the credit, so a crash and restart at any step never credits twice: a
  second credit with a known key is a no-op that answers True.
- A key belongs to one customer; reusing it for another customer is a bug (ValueError).
- A credit to a closed account is refused (False): the flows then release the customer's
  reservation instead of approving it.
- Bonus funds and free spins are kept apart from the cash `balance` (what the
  `min_balance` scrubbing rule checks).

The methods are synchronous because both implementations are local and fast. A platform
reached over the network would make them `async` in its copy of this code.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Activation:
    """One reward activated on the platform."""

    activation_key: str
    customer_id: str
    kind: Literal["bonus", "free_spins"]
    amount: int  # minor units for a bonus, spins for free spins
    currency: str | None = None


class Wallet(Protocol):
    def credit_bonus(
        self, customer_id: str, amount: int, currency: str, activation_key: str
    ) -> bool:
        """Credit bonus funds once per key; False when the platform refuses."""
        ...

    def add_free_spins(self, customer_id: str, units: int, activation_key: str) -> bool:
        """Add free spins once per key; False when the platform refuses."""
        ...

    def balance(self, customer_id: str) -> int:
        """The customer's real-time cash balance in minor units (0 when unknown)."""
        ...

    def activated(self, activation_key: str) -> bool:
        """Whether a reward with this key was activated already."""
        ...

    def seed_balances(self, balances: Mapping[str, int]) -> None:
        """Learn balances reported elsewhere (the `Balance` customer attribute) for
        customers the wallet does not know yet; a platform that owns its balances ignores
        this."""
        ...


class MemoryWallet:
    """A `Wallet` in process memory (thread-safe); its state dies with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}
        self._closed: set[str] = set()
        self._activations: dict[str, Activation] = {}

    def credit_bonus(
        self, customer_id: str, amount: int, currency: str, activation_key: str
    ) -> bool:
        return self._activate(Activation(activation_key, customer_id, "bonus", amount, currency))

    def add_free_spins(self, customer_id: str, units: int, activation_key: str) -> bool:
        return self._activate(Activation(activation_key, customer_id, "free_spins", units))

    def _activate(self, activation: Activation) -> bool:
        with self._lock:
            known = self._activations.get(activation.activation_key)
            if known is not None:
                _same_customer(known.customer_id, activation)
                return True
            if activation.customer_id in self._closed:
                return False
            self._activations[activation.activation_key] = activation
            return True

    def balance(self, customer_id: str) -> int:
        return self._balances.get(customer_id, 0)

    def activated(self, activation_key: str) -> bool:
        return activation_key in self._activations

    def seed_balances(self, balances: Mapping[str, int]) -> None:
        with self._lock:
            for customer_id, amount in balances.items():
                self._balances.setdefault(customer_id, amount)

    def close_account(self, customer_id: str) -> None:
        """From now on, refuse rewards for this customer."""
        with self._lock:
            self._closed.add(customer_id)

    def activations(self) -> list[Activation]:
        with self._lock:
            return list(self._activations.values())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS wallet_accounts (
    customer_id TEXT PRIMARY KEY,
    balance INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS wallet_activations (
    activation_key TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT,
    activated_at REAL NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode, shared by threads under the caller's lock. WAL with
    synchronous=NORMAL survives a process crash with every committed transaction; one
    transaction holds a credit and its key, so they survive (or vanish) together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class SqliteWallet:
    """A `Wallet` in a SQLite file: one transaction per credit, so restarts are safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def credit_bonus(
        self, customer_id: str, amount: int, currency: str, activation_key: str
    ) -> bool:
        return self._activate(Activation(activation_key, customer_id, "bonus", amount, currency))

    def add_free_spins(self, customer_id: str, units: int, activation_key: str) -> bool:
        return self._activate(Activation(activation_key, customer_id, "free_spins", units))

    def _activate(self, a: Activation) -> bool:
        with self._tx() as tx:
            row = tx.execute(
                "SELECT customer_id FROM wallet_activations WHERE activation_key = ?",
                (a.activation_key,),
            ).fetchone()
            if row is not None:
                _same_customer(str(row[0]), a)
                return True
            closed = tx.execute(
                "SELECT closed FROM wallet_accounts WHERE customer_id = ?", (a.customer_id,)
            ).fetchone()
            if closed is not None and closed[0]:
                return False
            tx.execute(
                "INSERT INTO wallet_activations VALUES (?, ?, ?, ?, ?, ?)",
                (a.activation_key, a.customer_id, a.kind, a.amount, a.currency, time.time()),
            )
            return True

    def balance(self, customer_id: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT balance FROM wallet_accounts WHERE customer_id = ?", (customer_id,)
            ).fetchone()
        return int(row[0]) if row is not None else 0

    def activated(self, activation_key: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM wallet_activations WHERE activation_key = ?", (activation_key,)
            ).fetchone()
        return row is not None

    def seed_balances(self, balances: Mapping[str, int]) -> None:
        with self._tx() as tx:  # one transaction for the whole page
            tx.executemany(
                "INSERT OR IGNORE INTO wallet_accounts (customer_id, balance) VALUES (?, ?)",
                balances.items(),
            )

    def close_account(self, customer_id: str) -> None:
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO wallet_accounts (customer_id, closed) VALUES (?, 1) "
                "ON CONFLICT (customer_id) DO UPDATE SET closed = 1",
                (customer_id,),
            )

    def activations(self) -> list[Activation]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT activation_key, customer_id, kind, amount, currency "
                "FROM wallet_activations ORDER BY rowid"
            ).fetchall()
        return [Activation(str(k), str(c), kind, int(n), cur) for k, c, kind, n, cur in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _same_customer(known: str, activation: Activation) -> None:
    if known != activation.customer_id:
        raise ValueError(
            f"activation key {activation.activation_key!r} belongs to {known!r}, "
            f"not {activation.customer_id!r}"
        )
