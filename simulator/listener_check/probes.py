"""The listener contract, checked by sending webhooks straight to the integrator's listener.

Rules checked per webhook kind (wire-contract §6; contracts/listener.json): scheduled
(EventTypeID 5), cancelled (4), channel (13, a campaign sent on a channel) and triggered
(CE v2):
- `accepted`: the webhook, exactly as optisim sends it (the body builders of
  `simulator.domain.campaigns`, the headers of `simulator.webhooks.signing`), is answered
  2xx within the timeout (the sender's default is 10 s; slower counts as not delivered).
- `duplicate_accepted`: the same delivery again (same `webhook-id`, re-signed with a fresh
  timestamp, as a retry is) is answered 2xx too: at-least-once delivery means receivers
  see duplicates, and refusing one makes the sender retry it forever.
- With a secret: `unsigned_refused`, `tampered_refused` (the body changed after signing),
  `wrong_secret_refused` and `stale_refused` (a correct signature on a timestamp outside
  the 5-minute tolerance: a replay) are answered 4xx. Without a secret these are skipped.
- `malformed_no_5xx`: a body that is not JSON, one with the wrong types, and an empty one
  (each correctly signed, so they reach the parser) are never answered 5xx, nor with a
  dropped connection or a timeout.

Probe webhooks name campaigns no real world has (99000x), so an integrator that acts on
them only meets 404s; they never touch the campaigns of the `--with-simulator` flow.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from simulator.domain.campaigns import (
    cancelled_body,
    channel_body,
    scheduled_body,
    triggered_body,
)
from simulator.domain.models import Campaign, CampaignStatus, TriggeredEvent
from simulator.listener_check.model import CheckResult, Status
from simulator.tracing import traceparent
from simulator.webhooks import signing

KINDS = ("scheduled", "cancelled", "channel", "triggered")
PROBE_CAMPAIGNS = {
    "scheduled": 990_005,
    "cancelled": 990_004,
    "channel": 990_013,
    "triggered": 990_007,
}
PROBE_TENANT = 99_999  # an integer TenantID, like every webhook's (wire-contract §6)
PROBE_CHANNEL = 990  # the ChannelID of the EventTypeID 13 probe
PROBE_TRACE_TENANT = str(PROBE_TENANT)  # what the probes' trace ids are derived from
STALE_S = 2 * signing.TOLERANCE_S  # well outside the receiver's 5-minute tolerance


@dataclass(frozen=True, slots=True)
class Target:
    """Where one webhook kind goes and the secret it is signed with (None: unsigned)."""

    kind: str
    url: str
    secret: str | None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the checker sent and what came back."""

    label: str
    url: str
    status: int | None
    error: str | None
    ms: float
    response: str
    body: bytes = b""  # what was sent, and its headers (to explain a refusal)
    headers: tuple[tuple[str, str], ...] = ()

    def line(self) -> str:
        outcome = f"{self.status}" if self.status is not None else f"no answer ({self.error})"
        text = f"; body {self.response!r}" if self.response else ""
        return f"{self.label}: POST {self.url} → {outcome} in {self.ms:.0f} ms{text}"

    @property
    def is_2xx(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def is_4xx(self) -> bool:
        return self.status is not None and 400 <= self.status < 500


def webhook_payload(kind: str, now: datetime) -> dict[str, Any]:
    """The body optisim sends for `kind`, for the probe campaign of that kind."""
    campaign_id = PROBE_CAMPAIGNS[kind]
    if kind == "scheduled":
        crb = now + timedelta(minutes=30)
        return scheduled_body(
            campaign_id, now=now, clearance_required_by=crb, tenant_id=PROBE_TENANT
        )
    if kind == "cancelled":
        return cancelled_body(campaign_id, now=now)
    if kind == "channel":
        return channel_body(campaign_id, PROBE_CHANNEL, now=now, tenant_id=PROBE_TENANT)
    campaign = Campaign(
        id=campaign_id,
        type="triggered",
        promo_code="OPTISIM-PROBE",
        action_id=990,
        action_name="optisim contract check: Prüfung ✓ café",  # non-ASCII: sent as raw UTF-8
        status=CampaignStatus.ACTIVE,
        created_at=now,
        series_id=990,
        trigger="deposit",
    )
    event = TriggeredEvent(
        f"EV_{secrets.token_hex(12)}",
        campaign_id,
        "C0000001",
        {"depositAmount": 12_000, "bonusFactor": 1.0},  # written 1.0 (JavaScript writes 1)
        now,
    )
    return triggered_body(campaign, event)


def awkward_body(payload: dict[str, Any]) -> bytes:
    """The payload as bytes no re-serialisation gives back, valid JSON of the same value:
    spaces around `:` and `,` and a newline and a tab between members, the members in
    reverse order, the first character of every ASCII string written as a `\\u` escape,
    non-ASCII text as raw UTF-8, and an integral number written `1.0` (in the triggered
    context, which is free-form). A listener that verifies `json.dumps(json.loads(raw))`
    (or any other re-serialisation) instead of the raw bytes refuses it; one that
    verifies the raw body accepts it (Standard Webhooks signs the bytes sent)."""
    return _awkward(payload).encode("utf-8")


def _awkward(value: Any) -> str:
    if isinstance(value, dict):
        members = [f"{orjson.dumps(k).decode()} : {_awkward(v)}" for k, v in value.items()]
        return "{ " + " ,\n\t".join(reversed(members)) + " }"
    if isinstance(value, list):
        return "[ " + " , ".join(_awkward(v) for v in value) + " ]"
    if isinstance(value, str) and value and value.isascii():
        rest = orjson.dumps(value[1:]).decode()[1:]
        return f'"\\u{ord(value[0]):04x}{rest}'
    return orjson.dumps(value).decode()


def tampered(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as an attacker would change it: another campaign, or a bigger deposit."""
    if "EventTypeID" in payload:
        return {**payload, "CampaignID": payload["CampaignID"] + 1}
    return {**payload, "context": {"depositAmount": payload["context"]["depositAmount"] * 100}}


def malformed_bodies(kind: str) -> list[tuple[str, bytes]]:
    """Bodies no listener should crash on."""
    wrong_types: dict[str, Any]
    if kind == "triggered":
        wrong_types = {"eventId": 7, "eventTime": False, "user": "C1", "campaign": [], "context": 1}
    else:
        wrong_types = {
            "EventTypeID": {"scheduled": 5, "cancelled": 4, "channel": 13}[kind],
            "TimeStamp": 20261127,
            "CampaignID": "not-a-number",
            "ClearanceRequiredBy": ["tomorrow"],
            "ChannelID": "email",
            "TenantID": "demo",
        }
    return [
        ("not JSON", b'{"EventTypeID": 5, "CampaignID": '),
        ("wrong types", orjson.dumps(wrong_types)),
        ("empty body", b""),
    ]


def new_webhook_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def new_secret() -> str:
    """A valid secret that is not the listener's (for `wrong_secret_refused`)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class Prober:
    """Sends probe webhooks with one httpx client; each result is an `Exchange`."""

    def __init__(self, client: httpx.AsyncClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    async def send(
        self,
        target: Target,
        label: str,
        body: bytes,
        *,
        msg_id: str | None = None,
        secret: str | None = None,
        unsigned: bool = False,
        signed_body: bytes | None = None,
        age_s: float = 0,
    ) -> Exchange:
        """POST `body` with the Standard Webhooks headers: signed over `signed_body`
        (default: `body`) with `secret` (default: the target's; none when `unsigned`), and
        a timestamp `age_s` seconds in the past."""
        key = None if unsigned else (secret or target.secret)
        stamp = int(self.clock() - age_s)
        msg_id = msg_id or new_webhook_id()
        signed = body if signed_body is None else signed_body
        # Headers as the dispatcher sends them, a trace per probe included.
        trace = traceparent(PROBE_TRACE_TENANT, msg_id, 1)
        headers = signing.headers([key] if key else [], msg_id, stamp, signed, trace)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        text = ""
        try:
            response = await self.client.post(target.url, content=body, headers=headers)
            status = response.status_code
            text = response.text[:160]
        except httpx.TimeoutException:
            error = f"timeout after {self.client.timeout.read:g} s"
        except httpx.HTTPError as exc:  # refused, reset, bad URL
            error = f"{type(exc).__name__}: {exc}"[:300]
        ms = (time.perf_counter() - started) * 1000
        return Exchange(label, target.url, status, error, ms, text, body, tuple(headers.items()))


def _result(
    target: Target,
    name: str,
    title: str,
    exchanges: list[Exchange],
    good: Callable[[Exchange], bool],
    want: str,
) -> CheckResult:
    bad = [e for e in exchanges if not good(e)]
    seconds = sum(e.ms for e in exchanges) / 1000
    status: Status = "fail" if bad else "pass"
    if bad:
        got = str(bad[0].status) if bad[0].status is not None else bad[0].error
        detail = f"{bad[0].label}: expected {want}, got {got}"
    else:
        detail = "answered " + ", ".join(str(e.status) for e in exchanges)
    return CheckResult(
        f"{target.kind}.{name}",
        f"listener.{target.kind}",
        title,
        status,
        detail,
        [e.line() for e in exchanges],
        seconds,
    )


SIGNATURE_CHECKS = ("unsigned_refused", "tampered_refused", "wrong_secret_refused", "stale_refused")


async def check_kind(prober: Prober, target: Target) -> list[CheckResult]:
    """Every listener check for one webhook kind, in the order listed in the module doc."""
    kind = target.kind
    payload = webhook_payload(kind, datetime.fromtimestamp(prober.clock(), UTC))
    body = awkward_body(payload)
    msg_id = new_webhook_id()
    first = await prober.send(target, f"{kind} webhook", body, msg_id=msg_id)
    accepted = _result(
        target,
        "accepted",
        f"a {kind} webhook (valid JSON written as any sender may: spacing, escapes, "
        "non-ASCII) is answered 2xx in time",
        [first],
        lambda e: e.is_2xx,
        "2xx",
    )
    if first.is_4xx:
        accepted.detail += "; " + await why_refused(prober, target, payload, first)
        accepted.evidence += [
            "the body sent (verify these raw bytes, not a re-serialisation): "
            + repr(first.body[:200].decode("utf-8", "replace"))
        ]
    out = [accepted]
    again = await prober.send(target, f"same {kind} webhook again", body, msg_id=msg_id)
    out.append(
        _result(
            target,
            "duplicate_accepted",
            "a duplicate delivery (same webhook-id) is answered 2xx",
            [first, again],
            lambda e: e.is_2xx,
            "2xx",
        )
    )
    if target.secret and not first.is_2xx:
        for name in SIGNATURE_CHECKS:  # a 4xx to everything proves no signature check
            out.append(
                CheckResult(
                    f"{kind}.{name}",
                    f"listener.{kind}",
                    "signature check",
                    "skip",
                    f"not judged: the listener refused the correctly signed webhook too "
                    f"(see {kind}.accepted), so its refusals prove nothing",
                )
            )
    elif target.secret:
        refused: list[tuple[str, str, Exchange]] = [
            (
                "unsigned_refused",
                "an unsigned webhook is refused with 4xx",
                await prober.send(target, "unsigned", body, unsigned=True),
            ),
            (
                "tampered_refused",
                "a webhook whose body changed after signing is refused with 4xx",
                await prober.send(
                    target, "tampered body", orjson.dumps(tampered(payload)), signed_body=body
                ),
            ),
            (
                "wrong_secret_refused",
                "a webhook signed with another secret is refused with 4xx",
                await prober.send(target, "wrong secret", body, secret=new_secret()),
            ),
            (
                "stale_refused",
                f"a correctly signed webhook {STALE_S} s old is refused with 4xx",
                await prober.send(target, f"timestamp {STALE_S} s old", body, age_s=STALE_S),
            ),
        ]
        for name, title, exchange in refused:
            out.append(_result(target, name, title, [exchange], lambda e: e.is_4xx, "4xx"))
    else:
        for name in SIGNATURE_CHECKS:
            out.append(
                CheckResult(
                    f"{kind}.{name}",
                    f"listener.{kind}",
                    "signature check",
                    "skip",
                    "no secret given (--secret): pass the secret your listener verifies with",
                )
            )
    malformed = [
        await prober.send(target, f"malformed ({label})", data)
        for label, data in malformed_bodies(kind)
    ]
    out.append(
        _result(
            target,
            "malformed_no_5xx",
            "malformed bodies (not JSON, wrong types, empty) never get a 5xx",
            malformed,
            lambda e: e.status is not None and e.status < 500,
            "a status below 500",
        )
    )
    return out


async def why_refused(
    prober: Prober, target: Target, payload: dict[str, Any], refused: Exchange
) -> str:
    """Why a listener probably refused a correctly signed webhook, and how to find out: the
    signature explainer's verdict (`simulator.webhooks.signing.explain`, as `POST
    /_sim/webhooks/verify` gives it) for that very delivery."""
    if target.secret is None:
        return (
            "it was unsigned because no --secret was given: if your listener verifies "
            "signatures, pass --secret with the whsec_ secret it verifies with"
        )
    headers = dict(refused.headers)
    statuses = []
    for label, rewritten in (
        ("compact JSON", orjson.dumps(payload)),
        ("JSON with the usual spacing", json.dumps(payload).encode()),
    ):
        retry = await prober.send(target, f"{target.kind} webhook as {label}", rewritten)
        statuses.append(f"{retry.status if retry.status is not None else retry.error}")
        if retry.is_2xx:
            # The same value written so passes: the listener verifies what it re-wrote.
            verdict = signing.explain(
                rewritten, headers, [target.secret], prober.clock(), refused.body
            )
            return (
                f"the same webhook written as {label} was accepted, so your listener "
                "verifies a re-serialised body instead of the raw bytes it received; the "
                f"explainer, for a listener that verified those bytes: {verdict.detail}"
            )
    verdict = signing.explain(refused.body, headers, [target.secret], prober.clock())
    return (
        f"the explainer, for the bytes sent: {verdict.detail} with the --secret given; "
        "so check your listener verifies with that same secret (the part after whsec_, "
        "base64-decoded) over the raw body, and that it answers 2xx once verified "
        f"(it answered {' and '.join(statuses)} to the same webhook written plainly too)"
    )


async def run_probes(targets: list[Target], timeout_s: float) -> list[CheckResult]:
    """The listener checks for each target, one request at a time (a listener under test
    should not also be under load)."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        prober = Prober(client)
        out: list[CheckResult] = []
        for target in targets:
            out.extend(await check_kind(prober, target))
        return out
