"""`WireItems`: the two batch bodies read their items as TypedDicts, with exactly the answers
a list of models gave (issue 16: "the same 400s").

The oracle is the model each item was before (`WireModel` per item, keys bound by its own
validator), declared here; every body hypothesis draws must parse to the same values or
fail with the same errors (type, location, message) under both.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict, Field, StringConstraints, ValidationError, create_model

from simulator.api.core import UpdateCustomerPromotionStatusRequest
from simulator.api.schemas import CampaignData, Session, ValidateCustomersRequest
from simulator.specs import CampaignId, Id
from simulator.wire import EXACT_KEYS, WireModel


class _Ignoring(WireModel):
    model_config = ConfigDict(extra="ignore")


class _Forbidding(WireModel):
    model_config = ConfigDict(extra="forbid")


# Named as the items were (an error words a non-object item with the class name).
OldPromoUpdate = create_model(
    "PromoUpdate", __base__=_Ignoring, CustomerID=(Id, ...), Status=(bool, ...)
)
OldValidateContext = create_model(
    "ValidateContext",
    __base__=_Forbidding,
    customerId=(Id, ...),
    eventId=(Id | None, None),
    session=(Session, Field(default_factory=dict)),
)


class OldUpdateRequest(WireModel):
    model_config = ConfigDict(extra="ignore")
    TimeStamp: Annotated[str, StringConstraints(max_length=64)] | None = None
    CampaignID: CampaignId
    PromosUpdated: Annotated[list[OldPromoUpdate], Field(max_length=10_000)]


class OldValidateRequest(WireModel):
    model_config = ConfigDict(extra="forbid")
    campaignData: CampaignData
    contexts: Annotated[list[OldValidateContext], Field(min_length=1, max_length=1000)]


def outcome(
    model: type[WireModel], body: Any, context: dict[str, Any] | None = None
) -> tuple[str, Any]:
    """("ok", the items as the endpoint reads them) or ("error", the errors' words)."""
    try:
        parsed = model.model_validate(body, context=context)
    except ValidationError as error:
        words = [(e["type"], e["loc"], e["msg"], e.get("ctx")) for e in error.errors()]
        return "error", words
    if isinstance(parsed, OldUpdateRequest):
        promos = [p.model_dump() for p in parsed.PromosUpdated]
        return "ok", [(p["CustomerID"], p["Status"]) for p in promos]
    if isinstance(parsed, UpdateCustomerPromotionStatusRequest):
        return "ok", [(p["CustomerID"], p["Status"]) for p in parsed.PromosUpdated]
    if isinstance(parsed, OldValidateRequest):
        old = [c.model_dump() for c in parsed.contexts]
        return "ok", [(c["customerId"], c["eventId"], c["session"]) for c in old]
    assert isinstance(parsed, ValidateCustomersRequest)
    contexts = parsed.contexts
    return "ok", [(c["customerId"], c.get("eventId"), c.get("session", {})) for c in contexts]


# Keys in the declared case, in another case, twice, unknown; values of every JSON kind.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "C1", "x" * 129, "C0000001"]),
    st.lists(st.integers(0, 1), max_size=2),
    st.dictionaries(st.sampled_from(["a", "A"]), st.integers(0, 2), max_size=2),
)


def item_of(names: list[str]) -> st.SearchStrategy[Any]:
    spellings = [s for name in names for s in (name, name.lower(), name.upper())]
    keys = st.sampled_from([*spellings, "Extra", "\u212aey"])
    an_object = st.dictionaries(keys, VALUES, max_size=4)
    usual = st.fixed_dictionaries({names[0]: st.sampled_from(["C1", "C2"])}).map(
        lambda d: {**d, names[1]: True}
    )
    return st.one_of(usual, usual, an_object, VALUES)


UPDATE_ITEMS = st.lists(item_of(["CustomerID", "Status"]), max_size=6)
CONTEXT_ITEMS = st.lists(item_of(["customerId", "eventId", "session"]), max_size=6)


# Read as a wire body, or with the exact keys scenario documents are read with.
CONTEXTS = st.sampled_from([None, EXACT_KEYS])


@settings(max_examples=400, deadline=None)
@given(items=st.one_of(UPDATE_ITEMS, VALUES), context=CONTEXTS)
def test_approval_items_answer_as_models_did(items: Any, context: dict[str, Any] | None) -> None:
    body = {"CampaignID": 1, "PromosUpdated": items}
    new = outcome(UpdateCustomerPromotionStatusRequest, body, context)
    assert new == outcome(OldUpdateRequest, body, context)


@settings(max_examples=400, deadline=None)
@given(items=st.one_of(CONTEXT_ITEMS, VALUES), context=CONTEXTS)
def test_validation_contexts_answer_as_models_did(
    items: Any, context: dict[str, Any] | None
) -> None:
    body = {"campaignData": {"campaignId": 1}, "contexts": items}
    new = outcome(ValidateCustomersRequest, body, context)
    assert new == outcome(OldValidateRequest, body, context)


@pytest.mark.parametrize(
    ("new", "old", "field", "item", "limit"),
    [
        (
            UpdateCustomerPromotionStatusRequest,
            OldUpdateRequest,
            "PromosUpdated",
            {"CustomerID": "C1", "Status": True},
            10_000,
        ),
        (
            ValidateCustomersRequest,
            OldValidateRequest,
            "contexts",
            {"customerId": "C1"},
            1_000,
        ),
    ],
)
def test_lengths_answer_as_models_did(
    new: type[WireModel], old: type[WireModel], field: str, item: dict[str, Any], limit: int
) -> None:
    base = {"CampaignID": 1} if field == "PromosUpdated" else {"campaignData": {"campaignId": 1}}
    twice = {**item, next(iter(item)).lower(): "C2"}
    for items in (
        [],
        [item] * limit,
        [item] * (limit + 1),
        [twice] + [item] * limit,  # too long, and a key named twice: too long is the answer
        [{"Odd": 1}] + [item] * limit,
    ):
        body = {**base, field: items}
        assert outcome(new, body) == outcome(old, body)


def test_the_fast_reading_keeps_the_items_as_sent() -> None:
    """The usual body (every key exact) is not copied item by item: the dicts pydantic
    checked are the ones the endpoint reads."""
    body = {"CampaignID": 1, "PromosUpdated": [{"CustomerID": "C1", "Status": False}]}
    parsed = UpdateCustomerPromotionStatusRequest.model_validate(body)
    assert parsed.PromosUpdated == [{"CustomerID": "C1", "Status": False}]
    bound = UpdateCustomerPromotionStatusRequest.model_validate(
        {"CampaignID": 1, "PromosUpdated": [{"customerid": "C1", "STATUS": False, "x": 1}]}
    )
    assert bound.PromosUpdated == [{"CustomerID": "C1", "Status": False}]
