"""How request bodies are read: keys in any case, JSON types not coerced into one another.

Every request model (wire bodies and scenario files) derives from `WireModel`, which is
strict: `true` is not `1`, `0` is not `false`, `"48213"` is not `48213`, and a number is
not a time. A value of the wrong JSON type is a 400 naming the field, as the contract
documents promise. No documented client sends numbers as strings in a body
(optimove-api-facts §5: `CustomerID` is always a string, `EventTypeID`, `CampaignID` and
`ChannelID` are ints), so no field is lax (docs/decisions.md, "Wire types").

Two things strict pydantic would get wrong, fixed here:
- An integral JSON number (`276.0`, `1e3`) *is* an integer in JSON Schema (and in every
  JavaScript client); `loads` decodes it as a Python int, so strict int fields take it.
- Strict `datetime` refuses ISO 8601 strings (it wants `datetime` objects); `IsoTime` takes
  ISO 8601 strings (and the `datetime` objects YAML produces) and nothing else: not a
  number, and not a numeric string (lax pydantic reads both as unix timestamps).

Body keys bind case-insensitively to the declared fields (`CustomerId`, `customerID` and
`CUSTOMERID` are `CustomerID`), as the real service's ASP.NET model binding does
(wire-contract §2, optimove-api-facts "Added in turn 2": production clients send
`{"UserName","Password"}` and `PromosUpdated: [{"CustomerId","Status"}]`). Only the keys of
a model's own object are bound: free-form values (a session, an event context, a condition
`value`) are data and keep their keys. Scenario documents bind exactly (`EXACT_KEYS`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

# RFC 3339 / ISO 8601: a calendar date first; the time and zone are checked by pydantic.
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_time(value: Any) -> Any:
    if isinstance(value, date):  # YAML's own timestamps (datetime is a date too)
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-27T09:00:00Z")


# Lax inside (an ISO string becomes a datetime), strict about what reaches it.
IsoTime = Annotated[datetime, Strict(False), BeforeValidator(_iso_time)]


def integral(value: float) -> float | int:
    """An integral float as an int (`276.0` → 276), when it is exact (≤ 2**53)."""
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


# One decoder for every request: `json.loads(..., parse_float=...)` builds a new one per
# call, which was a third of the decoding time of a small body.
_DECODER = json.JSONDecoder(parse_float=lambda text: integral(float(text)))


def loads(data: bytes | str) -> Any:
    """JSON as the request models read it: integral numbers are ints (`276.0` → 276).

    Raises a `ValueError` (`json.JSONDecodeError`, or `UnicodeDecodeError` for bytes that
    are not text) like `json.loads`, whose decoding of bytes this repeats. JSON nested
    deeper than the decoder's recursion limit (`[[[[…` 100,000 levels) is a
    `json.JSONDecodeError` too, not the decoder's `RecursionError`: the caller answers
    invalid JSON with a 400, never a 500 (wire-contract §1)."""
    if isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    try:
        return _DECODER.decode(data)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", data, 0) from None


# Validation context for documents whose keys must be spelled exactly as declared: scenario
# files (and scenarios sent whole). `Model.model_validate(data, context=EXACT_KEYS)`.
EXACT_KEYS: dict[str, Any] = {"exact_keys": True}


class WireModel(BaseModel):
    """Strict JSON types, keys in any case (see the module docstring)."""

    model_config = ConfigDict(strict=True)

    # Per class, computed once: the declared keys, and each one's lower-case spelling.
    _wire_keys: ClassVar[frozenset[str]] = frozenset()
    _wire_folded: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        keys = [field.alias or name for name, field in cls.model_fields.items()]
        folded = {key.lower(): key for key in keys}
        if len(folded) != len(keys):  # `id` and `ID` in one model could not be told apart
            raise TypeError(f"{cls.__name__}: two fields differ only in case: {sorted(keys)}")
        cls._wire_keys = frozenset(keys)
        cls._wire_folded = folded

    @model_validator(mode="before")
    @classmethod
    def _bind_keys(cls, data: Any, info: ValidationInfo) -> Any:
        """The object with each key that names a declared field in another case renamed to
        the declared spelling; other keys are left for `extra` to judge. A field named
        twice in different cases is an error at that field."""
        # Fast path (every key already exact → the object untouched): most bodies.
        if not isinstance(data, dict) or cls._wire_keys.issuperset(data):
            return data
        if info.context is not None and info.context.get("exact_keys"):
            return data
        return bind_keys(data, cls._wire_folded, cls.__name__)


def bind_keys(data: dict[Any, Any], folded: Mapping[str, str], title: str) -> dict[Any, Any]:
    """`data` with each key that names a declared field (`folded`: lower-case spelling →
    declared key) in another case renamed to the declared spelling; a field named twice in
    different cases raises a `ValidationError` at that field."""
    bound: dict[Any, Any] = {}
    given: dict[str, str] = {}  # declared key → the spelling the body used
    for key, value in data.items():
        # ASCII case only, as .NET's OrdinalIgnoreCase: `\u212a` (Kelvin) is not `K`.
        name = folded.get(key.lower()) if isinstance(key, str) and key.isascii() else None
        if name is None:
            bound[key] = value
            continue
        if name in given:
            raise _twice(title, name, given[name], key, value)
        given[name] = key
        bound[name] = value
    return bound


class WireItems:
    """`Annotated[list[Item], WireItems(max_length=...)]`: a list of JSON objects read as
    the `TypedDict` `Item` (declared with `with_config(ConfigDict(strict=True, ...))`), each
    object's keys bound case-insensitively exactly as `WireModel` binds its own.

    Why not a list of models: a model per item runs Python code per item (its key binding)
    and builds an instance, ~2.2 µs an item; the 10,000 items of an approval call or the
    1,000 contexts of a validation then cost more than the rules they feed. A `TypedDict`
    is validated by pydantic-core alone (~0.5 µs an item) and the keys of the whole list
    are checked in one C-level pass. The answers are the model's, byte for byte: the same
    fields, types, constraints and errors; a list holding a field named twice in different
    cases (the one error binding raises) is judged item by item, as the model judged it
    (tests/api/test_wire_items.py holds the two side by side).
    """

    __slots__ = ("max_length", "min_length")

    def __init__(self, *, min_length: int | None = None, max_length: int | None = None) -> None:
        self.min_length, self.max_length = min_length, max_length

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        (item,) = get_args(source)
        keys = frozenset(item.__required_keys__ | item.__optional_keys__)
        folded = {key.lower(): key for key in keys}
        title = item.__name__
        length = Field(min_length=self.min_length, max_length=self.max_length)

        def bind_one(data: Any, info: ValidationInfo) -> Any:
            if not isinstance(data, dict):  # as a model words it, not as a TypedDict would
                raise _not_an_object(title, data)
            if keys.issuperset(data) or (info.context or {}).get("exact_keys"):
                return data
            return bind_keys(data, folded, title)

        # Item by item, as a list of models read it: the answer whenever the list is refused.
        bound_item = Annotated[item, BeforeValidator(bind_one)]  # type: ignore[valid-type]
        one_by_one = TypeAdapter(Annotated[list[bound_item], length])

        def read(data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
            if isinstance(data, list):
                try:
                    exact = all(map(keys.issuperset, data))  # one C-level pass
                except TypeError:  # an item that is not iterable
                    exact = False
                if not exact and not (info.context or {}).get("exact_keys"):
                    try:
                        data = [bind_one(each, info) for each in data]
                    except ValidationError:
                        return one_by_one.validate_python(data, strict=True, context=info.context)
            try:
                return handler(data)
            except ValidationError:
                return one_by_one.validate_python(data, strict=True, context=info.context)

        return core_schema.with_info_wrap_validator_function(
            read,
            handler.generate_schema(Annotated[list[item], length]),  # type: ignore[valid-type]
        )


def _not_an_object(title: str, value: Any) -> ValidationError:
    details = InitErrorDetails(type="model_type", loc=(), input=value, ctx={"class_name": title})
    return ValidationError.from_exception_data(title, [details])


def _twice(title: str, name: str, first: str, second: str, value: Any) -> ValidationError:
    """The error at the field itself (`PromosUpdated[0].CustomerID: ...`)."""
    error = PydanticCustomError(
        "duplicate_key",
        "given twice, as {first} and {second} (body keys match case-insensitively)",
        {"first": repr(first), "second": repr(second)},
    )
    details = InitErrorDetails(type=error, loc=(name,), input=value)
    return ValidationError.from_exception_data(title, [details])
