"""W3C Trace Context on the integrator's side: the `traceparent` of the webhook being
worked on is passed on (same trace id, a new span id per call) with every API call made
about its event, so the simulator's journal shows them in the webhook's trace and a load
run can follow one event from webhook to approval.

The webhook's header is kept in a context variable set when its work is dispatched:
`asyncio.create_task` copies the context, so every call made in that task (and the tasks
it starts) carries it, with no parameter threaded through the flows. A coalesced
validation (`flows/coalesce.py`) carries the trace of the event whose task sends it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")
# version 00 only (what we continue); an all-zero trace or parent id is invalid (§3.2.2).
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_CURRENT: ContextVar[str | None] = ContextVar("traceparent", default=None)


def received(header: str | None) -> str | None:
    """A valid incoming `traceparent`, else None (an invalid one is ignored, §3.2)."""
    if header is None:
        return None
    header = header.strip()
    found = _TRACEPARENT.fullmatch(header)
    if found is None or found.group(1) == "0" * 32 or found.group(2) == "0" * 16:
        return None
    return header


def within(traceparent: str | None, fn: Callable[..., T], *args: object) -> T:
    """Call `fn(*args)` with `traceparent` as the current trace (tasks it starts keep it)."""
    token = _CURRENT.set(traceparent)
    try:
        return fn(*args)
    finally:
        _CURRENT.reset(token)


def outgoing() -> str | None:
    """The `traceparent` of a call made now: the current trace, a fresh span id; None
    outside any webhook's work."""
    parent = _CURRENT.get()
    if parent is None:
        return None
    _, trace_id, _, flags = parent.split("-")
    span = secrets.token_hex(8)
    while span == "0" * 16:  # all zeros is invalid (one chance in 2**64)
        span = secrets.token_hex(8)
    return f"00-{trace_id}-{span}-{flags}"
