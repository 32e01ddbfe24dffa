"""W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/) for webhooks and
the journal.

Every webhook carries a `traceparent` whose trace id is derived from the tenant and the
event id (`webhook-id`), so every attempt and re-send of one event is one trace, and a
load run can find the event in its own traces, in the integrator's logs and, when the
integrator passes the header on with its approval, in the simulator's journal. Each
attempt is a span of its own (its parent id is derived from the attempt number).
Deterministic: the same event in the same tenant always gets the same trace id
(docs/decisions.md, "Trace context").
"""

from __future__ import annotations

import hashlib
import re

# version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower case only; an
# all-zero trace or parent id is invalid (Trace Context §3.2.2.3, §3.2.2.4). Later versions
# may append fields after the flags (§3.2.4): their first four fields are read the same way.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
SAMPLED = "01"


def parse(header: str) -> tuple[str, str] | None:
    """(trace id, parent id) of a valid `traceparent`, else None (a receiver ignores an
    invalid header rather than refusing the request, Trace Context §3.2)."""
    found = _TRACEPARENT.fullmatch(header.strip())
    if found is None:
        return None
    version, trace_id, parent_id, _, rest = found.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE:
        return None
    if parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id


def trace_id(tenant_id: str, event_id: str) -> str:
    """The trace id of one event's webhooks: 128 bits of SHA-256 over tenant and event id."""
    digest = hashlib.sha256(f"{tenant_id}\x00{event_id}".encode()).hexdigest()
    return digest[:32] if digest[:32] != _ZERO_TRACE else "1" * 32


def traceparent(tenant_id: str, event_id: str, attempt: int) -> str:
    """The `traceparent` of attempt `attempt` (1, 2, ...) of one event's webhook."""
    trace = trace_id(tenant_id, event_id)
    span = hashlib.sha256(f"{trace}\x00{attempt}".encode()).hexdigest()[:16]
    return f"00-{trace}-{span if span != _ZERO_SPAN else '1' * 16}-{SAMPLED}"
