"""A deterministic customer population: customer `i` is computed from (seed, i), never stored.

A 1,000,000-customer campaign therefore costs no memory until a customer is touched, and the
same seed gives the same customers on every machine and in every process. Name pools come
from Faker (seeded) so attributes look like a real casino/sportsbook/retail customer base.

Beside the generated customers, a tenant may hold *chosen* customers (wire-contract §7,
rev 2): explicit customers with any id and attributes, and chosen attributes laid over
generated customers. Only those are stored (see `Chosen`); generated ones stay computed.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeVar

from faker import Faker

from simulator.domain.numbered import number_of, numbers_of

# (country, language, currency, Faker locale, weight in a thousand)
COUNTRIES = (
    ("DE", "de", "EUR", "de_DE", 220),
    ("GB", "en", "GBP", "en_GB", 180),
    ("SE", "sv", "SEK", "sv_SE", 90),
    ("ES", "es", "EUR", "es_ES", 110),
    ("IT", "it", "EUR", "it_IT", 100),
    ("BR", "pt", "BRL", "pt_BR", 90),
    ("CA", "en", "CAD", "en_CA", 80),
    ("MT", "en", "EUR", "en_GB", 30),
    ("NL", "nl", "EUR", "nl_NL", 60),
    ("FR", "fr", "EUR", "fr_FR", 40),
)
VIP_LEVELS = (("Bronze", 600), ("Silver", 250), ("Gold", 120), ("Platinum", 30))
ATTRIBUTES = (
    "FirstName",
    "LastName",
    "Email",
    "Country",
    "Language",
    "Currency",
    "VIPLevel",
    "LifetimeDeposits",
    "Balance",
    "RegistrationDate",
    "Age",
    "SelfExcluded",
)
_CANONICAL = {name.lower(): name for name in ATTRIBUTES}
# The type a chosen value of a generated attribute must have, so a tier comparing
# `LifetimeDeposits` with a number never meets the string "150000".
ATTRIBUTE_TYPES: dict[str, type] = {
    **{name: str for name in ATTRIBUTES},
    "LifetimeDeposits": int,
    "Balance": int,
    "Age": int,
    "SelfExcluded": bool,
}
_EPOCH = date(2015, 1, 1)
_MASK = (1 << 64) - 1
POOL_SIZE = 256
_DATES = tuple((_EPOCH + timedelta(days=d)).isoformat() for d in range(4000))


def _table(weighted: tuple[tuple[Any, ...], ...]) -> tuple[int, ...]:
    """A 1000-slot lookup: slot s → index of the weighted entry covering it."""
    slots: list[int] = []
    for i, row in enumerate(weighted):
        slots.extend([i] * row[-1])
    assert len(slots) == 1000
    return tuple(slots)


_COUNTRY_SLOTS = _table(COUNTRIES)
_VIP_SLOTS = _table(VIP_LEVELS)


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@lru_cache(maxsize=16)
def _name_pools(seed: int) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    pools: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for _, _, _, locale, _ in COUNTRIES:
        if locale in pools:
            continue
        fake = Faker(locale)
        fake.seed_instance(seed)
        firsts = tuple(fake.first_name() for _ in range(POOL_SIZE))
        lasts = tuple(fake.last_name() for _ in range(POOL_SIZE))
        pools[locale] = (firsts, lasts)
    return pools


def canonical_attribute(name: str) -> str | None:
    """The attribute's canonical spelling, matched case-insensitively; None if unknown."""
    return _CANONICAL.get(name.strip().lower())


@dataclass(frozen=True, slots=True)
class Chosen:
    """A tenant's chosen customers, in the order they were first stored.

    `attributes` maps a customer id to its chosen attributes: all of an explicit
    customer's, or those laid over a generated customer's computed ones. Explicit
    customers (ids that are not generated ids) follow the generated ones: the k-th has
    index `size + k`, for ever (customers are never removed), so frozen processed lists
    of indices stay valid. `names` maps each chosen attribute name, lower-cased, to its
    spelling.
    """

    attributes: Mapping[str, Mapping[str, Any]]
    explicit_ids: tuple[str, ...]
    explicit_index: Mapping[str, int]
    names: Mapping[str, str]

    @classmethod
    def of(
        cls, records: Sequence[tuple[str, Mapping[str, Any]]], is_generated: Callable[[str], bool]
    ) -> Chosen:
        explicit = tuple(cid for cid, _ in records if not is_generated(cid))
        names: dict[str, str] = {}
        for _, attrs in records:
            for name in attrs:
                names.setdefault(name.lower(), name)
        return cls(
            {cid: attrs for cid, attrs in records},
            explicit,
            {cid: k for k, cid in enumerate(explicit)},
            names,
        )


@dataclass(frozen=True, slots=True)
class Population:
    """`size` generated customers with ids `{prefix}{i:0{width}d}`, attributes derived from
    `seed`, then the explicit customers of `chosen` (indices `size`, `size + 1`, …)."""

    seed: int = 42
    size: int = 100_000
    id_prefix: str = "C"
    id_width: int = 7
    self_excluded_per_mille: int = 20
    chosen: Chosen | None = field(default=None, compare=False)

    @property
    def count(self) -> int:
        """Every customer: generated and explicit."""
        return self.size + (len(self.chosen.explicit_ids) if self.chosen else 0)

    def customer_id(self, index: int) -> str:
        if index >= self.size and self.chosen is not None:
            return self.chosen.explicit_ids[index - self.size]
        return f"{self.id_prefix}{index:0{self.id_width}d}"

    def generated_index(self, customer_id: str) -> int | None:
        """The index of a generated customer's id, or None for any other id."""
        index = number_of(customer_id, self.id_prefix, self.id_width)
        return index if index is not None and index < self.size else None

    def generated_indices(self, customer_ids: Sequence[str]) -> list[int] | None:
        """`generated_index` of each id when every one is a generated customer's, read as
        one batch; None otherwise (the caller then asks one by one)."""
        indices = numbers_of(customer_ids, self.id_prefix, self.id_width)
        return indices if indices is not None and max(indices) < self.size else None

    def index_of(self, customer_id: str) -> int | None:
        """The index behind a customer id, or None for an id not of this population."""
        index = self.generated_index(customer_id)
        if index is None and self.chosen is not None:
            k = self.chosen.explicit_index.get(customer_id)
            return None if k is None else self.size + k
        return index

    def attributes(self, index: int) -> dict[str, Any]:
        """Customer `index`'s attributes; the same for the same seed, everywhere."""
        return dict(self.customer(index))

    def customer(self, index: int) -> Mapping[str, Any]:
        """Customer `index` as a lazy mapping: each attribute is computed when read, so a
        tier that looks only at `VIPLevel` costs one field, not twelve. Chosen attributes
        win over computed ones; an explicit customer has only its chosen attributes."""
        chosen = self.chosen
        if chosen is None:
            return Customer(self, index)
        if index >= self.size:
            return chosen.attributes[chosen.explicit_ids[index - self.size]]
        laid = chosen.attributes.get(self.customer_id(index))
        generated = Customer(self, index)
        return generated if laid is None else ChainMap(dict(laid), generated)  # type: ignore[arg-type]

    def attribute_rows(
        self, indices: Sequence[int], names: Collection[str]
    ) -> list[Mapping[str, Any]] | None:
        """Customers `indices`' attributes `names`, a dict each, read as a batch: each
        customer's first hash once, no lazy mapping per customer. None when a name needs
        more than that hash or chosen customers could lay values over them (the caller
        then reads `customer(index)` one by one)."""
        if self.chosen is not None or not all(name in _BY_H1 for name in names):
            return None
        if not names:  # nothing read: no hash at all
            return [_NO_ATTRIBUTES] * len(indices)
        seed = self.seed << 32
        hashes = [_mix(seed ^ index) for index in indices]
        if len(names) == 1:  # the usual tiers: one attribute, one comprehension
            (name,) = names
            of = _BY_H1[name]
            return [{name: of(h1)} for h1 in hashes]
        readers = [(name, _BY_H1[name]) for name in names]
        return [{name: of(h1) for name, of in readers} for h1 in hashes]

    def attribute_name(self, name: str) -> str | None:
        """An attribute's spelling in this population (generated or chosen), matched
        case-insensitively; None if no customer can have it."""
        key = name.strip().lower()
        found = _CANONICAL.get(key)
        if found is None and self.chosen is not None:
            found = self.chosen.names.get(key)
        return found

    def pick(self, salt: int, n: int) -> list[int]:
        """`n` customer indices chosen deterministically by `salt` (with repeats allowed,
        as real customers trigger more than once); none from an empty population."""
        count = self.count
        if count == 0:
            return []
        return [_mix((self.seed << 40) ^ (salt << 20) ^ k) % count for k in range(n)]

    def sample_value(self, salt: int, low: int, high: int) -> int:
        """A deterministic integer in [low, high] for generated event contexts."""
        return low + _mix((self.seed << 24) ^ salt) % (high - low + 1)


F = TypeVar("F", bound=Callable[["Customer"], Any])
_FIELDS: dict[str, Callable[[Customer], Any]] = {}


def _field(name: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        _FIELDS[name] = fn
        return fn

    return register


class Customer(Mapping[str, Any]):
    """One population customer's attributes, computed on demand from two 64-bit hashes."""

    __slots__ = ("_h1", "_second", "index", "population")

    def __init__(self, population: Population, index: int) -> None:
        self.population = population
        self.index = index
        self._h1 = _mix((population.seed << 32) ^ index)
        self._second: int | None = None

    @property
    def _h2(self) -> int:
        # Computed when first read: the attributes tiers mostly read (VIPLevel, Country,
        # deposits) need only the first hash, and each hash costs ~0.45 µs per customer.
        second = self._second
        if second is None:
            second = self._second = _mix(self._h1)
        return second

    def __getitem__(self, name: str) -> Any:
        of = _BY_H1.get(name)  # the usual tier attributes: one call, as the others
        if of is not None:
            return of(self._h1)
        fn = _FIELDS.get(name)
        if fn is None:
            raise KeyError(name)
        value: Any = fn(self)
        return value

    def __contains__(self, name: object) -> bool:
        return name in _BY_H1 or name in _FIELDS

    def __iter__(self) -> Iterator[str]:
        return iter(ATTRIBUTES)

    def __len__(self) -> int:
        return len(ATTRIBUTES)

    def _country(self) -> tuple[str, str, str, str, int]:
        return _country_of(self._h1)

    def _names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return _name_pools(self.population.seed)[self._country()[3]]


@_field("FirstName")
def _first(c: Customer) -> str:
    return c._names()[0][(c._h2 >> 8) & 0xFF]


@_field("LastName")
def _last(c: Customer) -> str:
    return c._names()[1][(c._h2 >> 16) & 0xFF]


@_field("Email")
def _email(c: Customer) -> str:
    return f"{_first(c)}.{_last(c)}.{c.index}@example.com".lower()


# The attributes computed from the first hash alone, as functions of it: a batch reads
# them without a `Customer` per customer (`Population.attribute_rows`).
_BY_H1: dict[str, Callable[[int], Any]] = {}
_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


def _country_of(h1: int) -> tuple[str, str, str, str, int]:
    return COUNTRIES[_COUNTRY_SLOTS[(h1 & 0x3FF) % 1000]]


def _vip_of(h1: int) -> str:
    return VIP_LEVELS[_VIP_SLOTS[((h1 >> 10) & 0x3FF) % 1000]][0]


def _deposits_of(h1: int) -> int:
    # A long tail: most customers deposit a little, a few a lot.
    big = 1 if _vip_of(h1) in ("Gold", "Platinum") else 0
    scale: int = 10 ** (2 + ((h1 >> 20) & 0x3) + big)
    return ((h1 >> 22) & 0xFFFF) * scale // 64


def _balance_of(h1: int) -> int:
    return ((h1 >> 38) & 0xFFFF) * 3


_BY_H1.update(
    Country=lambda h1: _country_of(h1)[0],
    Language=lambda h1: _country_of(h1)[1],
    Currency=lambda h1: _country_of(h1)[2],
    VIPLevel=_vip_of,
    LifetimeDeposits=_deposits_of,
    Balance=_balance_of,
)


@_field("RegistrationDate")
def _registered(c: Customer) -> str:
    return _DATES[(c._h2 >> 24) % 4000]


@_field("Age")
def _age(c: Customer) -> int:
    return 18 + (c._h2 >> 40) % 60


@_field("SelfExcluded")
def _self_excluded(c: Customer) -> bool:
    return (c._h2 >> 50) % 1000 < c.population.self_excluded_per_mille
