"""Tier selection and reward computation.

Promotions' condition language is not public (optimove-api-facts §3.2, [A]); ours is an
ordered list of tiers, each a conjunction of conditions over the customer's population
attributes and the validate context's `session` object. The first tier that matches wins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from simulator.domain.models import Condition, Reward, RewardKind, RewardSpec, Tier

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in")
MAX_BASE = 2**53  # a percent base above this is not a plausible amount (and loses precision)
_MISSING = object()


def resolve(field: str, attributes: Mapping[str, Any], session: Mapping[str, Any]) -> Any:
    """Value of `attributes.X` or `session.Y` (dots go into nested objects); missing → sentinel."""
    root, parts = _path(field)
    if root is None:
        return _MISSING
    value: Any = attributes if root else session
    for part in parts:
        # `attributes` and `session` are mappings; what a dot goes into need not be
        if value is not attributes and value is not session and not isinstance(value, Mapping):
            return _MISSING
        try:  # one read: a population customer computes an attribute each time it is read
            value = value[part]
        except KeyError:
            return _MISSING
    return value


@lru_cache(maxsize=1024)
def _path(field: str) -> tuple[bool | None, tuple[str, ...]]:
    """(True for `attributes`, False for `session`, None for neither; the keys after it)."""
    root, _, path = field.partition(".")
    if not path or root not in ("attributes", "session"):
        return None, ()
    return root == "attributes", tuple(path.split("."))


def attribute_names(tiers: tuple[Tier, ...]) -> frozenset[str] | None:
    """The population attributes the tiers read (`X` of each `attributes.X` condition; a
    percent reward's base is a session value), or None when a condition reads into an
    attribute's inside (`attributes.X.Y`)."""
    names = set()
    for tier in tiers:
        for condition in tier.when:
            root, parts = _path(condition.field)
            if root:
                if len(parts) != 1:
                    return None
                names.add(parts[0])
    return frozenset(names)


def _same(a: Any, b: Any) -> bool:
    # JSON's `true` is not the number 1 (Python's `True == 1` is), so a boolean attribute
    # never equals a number condition, nor the other way round.
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def holds(cond: Condition, attributes: Mapping[str, Any], session: Mapping[str, Any]) -> bool:
    """Whether one condition holds. A missing field or values that cannot be compared
    (a string against a number) make the condition false, never an error.

    Values are JSON's: strings, numbers (integers and decimals compare by value) and
    booleans; `eq` / `in` need the same kind (`true` is not `1`, `"150000"` is not
    `150000`); `gt`, `gte`, `lt`, `lte` compare two numbers or two strings, never a
    boolean. This holds alike for generated and chosen attributes and session values."""
    actual = resolve(cond.field, attributes, session)
    if actual is _MISSING:
        return False
    expected = cond.value
    if cond.op in ("gt", "gte", "lt", "lte") and (
        isinstance(actual, bool) or isinstance(expected, bool)
    ):
        return False
    try:
        match cond.op:
            case "eq":
                return _same(actual, expected)
            case "ne":
                return not _same(actual, expected)
            case "gt":
                return bool(actual > expected)
            case "gte":
                return bool(actual >= expected)
            case "lt":
                return bool(actual < expected)
            case "lte":
                return bool(actual <= expected)
            case "in":
                return any(_same(actual, v) for v in expected)
            case "not_in":
                return not any(_same(actual, v) for v in expected)
    except TypeError:
        return False
    return False


def compute_reward(
    spec: RewardSpec, kind: RewardKind, currency: str | None, session: Mapping[str, Any]
) -> Reward | None:
    """The reward a tier gives; None when a percent reward's base is missing or not a number.

    Percent rewards are amount rewards: `percent` of `of` (a session value in minor units),
    rounded down to a whole minor unit and capped by `max`.
    """
    if spec.type != "percent":
        return _fixed_reward(spec, currency)
    base = resolve(spec.of or "", {}, session) if spec.of else _MISSING
    if isinstance(base, bool) or not isinstance(base, int | float):
        return None
    if isinstance(base, float) and not math.isfinite(base):  # NaN, infinities (1e400)
        return None
    if not 0 <= base <= MAX_BASE:  # an int of 400 digits would not even fit a float
        return None
    value = int(base * (spec.percent or 0) // 100)
    if spec.max is not None:
        value = min(value, spec.max)
    return Reward("amount", value, spec.currency or currency)


@lru_cache(maxsize=1024)
def _fixed_reward(spec: RewardSpec, currency: str | None) -> Reward:
    """An amount or units reward: the same for every customer, so one shared record (a
    store comparing a new allocation's reward with the last one's sees the same object)."""
    if spec.type == "units":
        return Reward("units", spec.units or 0)
    return Reward("amount", spec.amount or 0, spec.currency or currency)


def select_tier(
    tiers: tuple[Tier, ...],
    kind: RewardKind,
    currency: str | None,
    attributes: Mapping[str, Any],
    session: Mapping[str, Any],
) -> tuple[Tier, Reward] | None:
    """First tier whose conditions all hold (no conditions: matches everyone) and whose
    reward can be computed; None means `no_tier_matched`."""
    for tier in tiers:
        if all(holds(c, attributes, session) for c in tier.when):
            reward = compute_reward(tier.reward, kind, currency, session)
            if reward is not None:
                return tier, reward
    return None


class TierChooser:
    """`select_tier` for many customers of one promotion, computed once per distinct
    combination of the values the tiers read (their conditions' fields and a percent
    reward's base); the rule itself stays `select_tier`'s.

    A batch of 1,000 validations mostly repeats a few combinations (a tier reads one or two
    attributes), so the choice is a lookup for all but the first customer of each. Values
    are told apart by JSON type too (`true` is not `1`, as `holds` has it); a combination
    holding a value that cannot be a key (a list or an object) is not remembered. Build one
    per call: the memory is bounded by the call's customers.
    """

    __slots__ = ("_attribute", "_chosen", "_currency", "_fields", "_kind", "_tiers")

    def __init__(self, tiers: tuple[Tier, ...], kind: RewardKind, currency: str | None) -> None:
        self._tiers, self._kind, self._currency = tiers, kind, currency
        # None until the second customer: a call of one context pays for no memory
        self._fields: tuple[str, ...] | None = None
        self._attribute: str | None = None  # X, when the only field the tiers read is attributes.X
        self._chosen: dict[tuple[Any, ...], tuple[Tier, Reward] | None] | None = None

    def choose(
        self, attributes: Mapping[str, Any], session: Mapping[str, Any]
    ) -> tuple[Tier, Reward] | None:
        if self._chosen is None:  # the first customer
            self._chosen = {}
            return select_tier(self._tiers, self._kind, self._currency, attributes, session)
        fields = self._fields
        if fields is None:
            tiers = self._tiers
            read = {c.field for t in tiers for c in t.when}
            read |= {t.reward.of for t in tiers if t.reward.type == "percent" and t.reward.of}
            fields = self._fields = tuple(sorted(read))
            root, parts = _path(fields[0]) if len(fields) == 1 else (None, ())
            self._attribute = parts[0] if root and len(parts) == 1 else None
        key: tuple[Any, ...]
        if self._attribute is not None:  # the usual tiers: one `attributes.X`, read here
            try:  # as `resolve` reads it
                value = attributes[self._attribute]
            except KeyError:
                value = _MISSING
            key = (type(value), value)
        elif len(fields) == 1:  # one value: no list, no tuple of tuples
            value = resolve(fields[0], attributes, session)
            key = (type(value), value)
        else:
            key = tuple([(type(v), v) for v in [resolve(f, attributes, session) for f in fields]])
        try:
            return self._chosen[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: choose without remembering
            return select_tier(self._tiers, self._kind, self._currency, attributes, session)
        chosen = self._chosen[key] = select_tier(
            self._tiers, self._kind, self._currency, attributes, session
        )
        return chosen
