"""Standard Webhooks signatures (wire-contract §6), through the maintained
`standardwebhooks` package, plus `explain`: why a received webhook fails verification.

Headers: `webhook-id` (stable across retries), `webhook-timestamp` (unix seconds, wall
clock), `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`; during
a secret rotation one `v1,…` signature per valid secret, separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import orjson
from standardwebhooks import Webhook

TOLERANCE_S = 300


@lru_cache(maxsize=256)
def _webhook(secret: str) -> Webhook:
    return Webhook(secret)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of the raw body."""
    stamp = datetime.fromtimestamp(timestamp, UTC)
    signature: str = _webhook(secret).sign(msg_id, stamp, body.decode())
    return signature


def headers(
    secrets: Sequence[str],
    msg_id: str,
    timestamp: int,
    body: bytes,
    traceparent: str | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers; unsigned (no signature header) without secrets;
    and the W3C `traceparent` when given (simulator.tracing: the dispatcher always gives
    one)."""
    out = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if secrets:
        out["webhook-signature"] = " ".join(sign(s, msg_id, timestamp, body) for s in secrets)
    if traceparent is not None:
        out["traceparent"] = traceparent
    return out


@dataclass(frozen=True, slots=True)
class Explanation:
    valid: bool
    problem: str | None
    detail: str


def explain(
    body: bytes,
    received: Mapping[str, str],
    secrets: Sequence[str],
    now: float,
    original: bytes | None = None,
) -> Explanation:
    """Why verification of a received webhook passes or fails, in the order a verifier
    checks: headers present and well formed, timestamp within 5 minutes, a signature that
    matches the body; when it does not match, whether the body was changed (compared with
    the `original` we sent) or the secret is wrong."""
    h = {k.lower(): v for k, v in received.items()}
    missing = [n for n in ("webhook-id", "webhook-timestamp", "webhook-signature") if not h.get(n)]
    if missing:
        return Explanation(False, "header_missing", f"missing header(s): {', '.join(missing)}")
    try:
        stamp = int(h["webhook-timestamp"])
    except ValueError:
        return Explanation(False, "header_malformed", "webhook-timestamp is not unix seconds")
    signatures = []
    for part in h["webhook-signature"].split():
        version, _, value = part.partition(",")
        try:
            signatures.append((version, base64.b64decode(value, validate=True)))
        except (binascii.Error, ValueError):
            return Explanation(
                False, "header_malformed", f"signature {part[:20]!r} is not v1,<base64>"
            )
    if not any(v == "v1" and s for v, s in signatures):
        return Explanation(False, "header_malformed", "no v1,<base64> signature")
    if abs(now - stamp) > TOLERANCE_S:
        return Explanation(
            False,
            "timestamp_out_of_tolerance",
            f"webhook-timestamp is {now - stamp:+.0f} s from now; the tolerance is "
            f"{TOLERANCE_S} s (check the receiver's clock, or a replayed request)",
        )
    if not secrets:
        return Explanation(
            False, "no_secret", "the tenant has no webhook secret: nothing is signed"
        )
    msg_id = h["webhook-id"]
    given = {s for v, s in signatures if v == "v1"}

    def matches(data: bytes) -> bool:
        return any(
            base64.b64decode(sign(secret, msg_id, stamp, data).split(",", 1)[1]) in given
            for secret in secrets
        )

    if matches(body):
        return Explanation(True, None, "signature verifies")
    if original is not None and original != body and matches(original):
        return Explanation(False, "body_changed", _diff(original, body))
    return Explanation(
        False,
        "wrong_secret",
        "the signature was not made with this tenant's secret for this id and timestamp "
        "(check the secret, including its whsec_ prefix handling)",
    )


def _diff(original: bytes, received: bytes) -> str:
    """Where the received body departs from the one that was signed."""
    try:
        same_json = orjson.loads(original) == orjson.loads(received)
    except orjson.JSONDecodeError:
        same_json = False
    pos = next(
        (i for i, (a, b) in enumerate(zip(original, received, strict=False)) if a != b),
        min(len(original), len(received)),
    )
    context = (
        f"at byte {pos}: sent {original[max(0, pos - 15) : pos + 15]!r}, "
        f"received {received[max(0, pos - 15) : pos + 15]!r}"
    )
    if same_json:
        return (
            "the body was re-serialised (same JSON, different bytes) — verify the raw body "
            f"as received, before parsing; {context}"
        )
    return f"the body was changed after it was signed; {context}"
