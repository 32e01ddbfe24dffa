"""How request bodies are read: JSON types are not coerced into one another.

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
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict

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


class WireModel(BaseModel):
    """Strict JSON types (see the module docstring)."""

    model_config = ConfigDict(strict=True)
