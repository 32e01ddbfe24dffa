"""Signatures: `POST /_sim/webhooks/verify` explains why a received webhook does or does
not verify, and secret rotation signs with both secrets during the overlap."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from simulator.webhooks import signing
from tests.helpers import Sim
from tests.webhooks.support import (
    DEMO_SECRET,
    Listener,
    Received,
    configure,
    memory_only,
    new_secret,
    ok,
    register,
    verify,
)


def _received_type_5(sim: Sim, listener: Listener) -> Received:
    configure(sim)
    register(sim, listener.url("/t5"), [5])
    register(sim, listener.url("/t4"), [4])
    ok(sim.execute())
    [got] = listener.wait_for(1, "/t5")
    return got


def _signed(secret: str, msg_id: str, stamp: int, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }


def test_verify_says_the_webhook_as_received_is_valid(listener: Listener, sim: Sim) -> None:
    got = _received_type_5(sim, listener)
    result = verify(sim, got.body, got.headers)
    assert result["valid"] is True and result["problem"] is None
    # header names are case-insensitive, as frameworks spell them differently
    title = {k.title(): v for k, v in got.headers.items()}
    assert verify(sim, got.body, title)["valid"] is True


def test_verify_explains_a_re_serialised_body_as_body_changed(listener: Listener, sim: Sim) -> None:
    got = _received_type_5(sim, listener)
    parsed = orjson.loads(got.body)
    reserialised = orjson.dumps(parsed, option=orjson.OPT_INDENT_2)
    assert orjson.loads(reserialised) == parsed and reserialised != got.body
    result = verify(sim, reserialised, got.headers)
    assert result["valid"] is False and result["problem"] == "body_changed", result
    assert "re-serialised" in result["explanation"]


@memory_only
def test_verify_explains_a_changed_value_as_body_changed(listener: Listener, sim: Sim) -> None:
    got = _received_type_5(sim, listener)
    changed = got.body.replace(b'"CampaignID":48213', b'"CampaignID":48214')
    assert changed != got.body
    result = verify(sim, changed, got.headers)
    assert result["valid"] is False and result["problem"] == "body_changed", result
    assert "re-serialised" not in result["explanation"]


@memory_only
def test_verify_explains_a_signature_made_with_another_secret_as_wrong_secret(
    listener: Listener, sim: Sim
) -> None:
    got = _received_type_5(sim, listener)
    forged = _signed(new_secret(), got.id, int(got.headers["webhook-timestamp"]), got.body)
    result = verify(sim, got.body, forged)
    assert result["valid"] is False and result["problem"] == "wrong_secret", result


def test_verify_explains_an_old_webhook_after_a_rotation_without_overlap_as_wrong_secret(
    listener: Listener, sim: Sim
) -> None:
    got = _received_type_5(sim, listener)
    assert verify(sim, got.body, got.headers)["valid"] is True
    ok(sim.post("/_sim/webhooks/secret/rotate", {"overlapSeconds": 0}))
    result = verify(sim, got.body, got.headers)
    assert result["valid"] is False and result["problem"] == "wrong_secret", result


@memory_only
def test_verify_explains_an_old_or_future_timestamp_as_out_of_tolerance(
    listener: Listener, sim: Sim
) -> None:
    got = _received_type_5(sim, listener)
    for shift in (-600, +600):
        stamp = int(time.time()) + shift
        headers = _signed(DEMO_SECRET, got.id, stamp, got.body)  # correctly signed
        result = verify(sim, got.body, headers)
        assert result["valid"] is False, (shift, result)
        assert result["problem"] == "timestamp_out_of_tolerance", (shift, result)


@memory_only
def test_verify_explains_a_missing_header_as_header_missing(listener: Listener, sim: Sim) -> None:
    got = _received_type_5(sim, listener)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = {k: v for k, v in got.headers.items() if k != name}
        result = verify(sim, got.body, headers)
        assert result["valid"] is False, (name, result)
        assert result["problem"] == "header_missing", (name, result)
        assert name in result["explanation"], (name, result)


@memory_only
def test_verify_explains_a_malformed_header_as_header_malformed(
    listener: Listener, sim: Sim
) -> None:
    got = _received_type_5(sim, listener)
    for name, value in [
        ("webhook-timestamp", "yesterday"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "v2,c2lnbmF0dXJl"),  # no v1 signature
    ]:
        result = verify(sim, got.body, {**got.headers, name: value})
        assert result["valid"] is False, (name, value, result)
        assert result["problem"] == "header_malformed", (name, value, result)


def _signature_secrets(got: Received, secrets: list[str]) -> list[set[str]]:
    """For each `v1,…` signature in the header: the secrets it verifies with."""
    out = []
    for part in got.headers["webhook-signature"].split(" "):
        single = {**got.headers, "webhook-signature": part}
        matched = set()
        for secret in secrets:
            try:
                Webhook(secret).verify(got.body, single)
                matched.add(secret)
            except WebhookVerificationError:
                pass
        out.append(matched)
    return out


def test_rotation_with_overlap_signs_with_the_new_and_the_old_secret(
    listener: Listener, sim: Sim
) -> None:
    _received_type_5(sim, listener)
    rotated = ok(sim.post("/_sim/webhooks/secret/rotate", {"overlapSeconds": 60}))
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != DEMO_SECRET
    assert ok(sim.get("/_sim/webhooks/config"))["secretsInOverlap"] == 1
    ok(sim.cancel())
    [got] = listener.wait_for(1, "/t4")
    parts = got.headers["webhook-signature"].split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts), parts
    matched = _signature_secrets(got, [new, DEMO_SECRET])
    assert sorted(map(sorted, matched)) == sorted([[new], [DEMO_SECRET]]), matched
    Webhook(new).verify(got.body, got.headers)  # receivers on either secret accept it
    Webhook(DEMO_SECRET).verify(got.body, got.headers)
    assert verify(sim, got.body, got.headers)["valid"] is True


def test_rotation_without_overlap_signs_with_the_new_secret_only(
    listener: Listener, sim: Sim
) -> None:
    _received_type_5(sim, listener)
    chosen = new_secret()
    rotated = ok(sim.post("/_sim/webhooks/secret/rotate", {"secret": chosen, "overlapSeconds": 0}))
    assert rotated["secret"] == chosen
    ok(sim.cancel())
    [got] = listener.wait_for(1, "/t4")
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    Webhook(chosen).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(DEMO_SECRET).verify(got.body, got.headers)
    assert verify(sim, got.body, got.headers)["valid"] is True


@given(
    key=st.binary(min_size=1, max_size=64),
    prefixed=st.booleans(),
    padded=st.booleans(),
    msg_id=st.text(min_size=1, max_size=40),
    payload=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=10,
    ),
)
def test_what_we_send_verifies_for_any_secret_form_id_and_body(
    key: bytes, prefixed: bool, padded: bool, msg_id: str, payload: object
) -> None:
    """Any secret form (with or without `whsec_`, with or without base64 padding), any id,
    any JSON body: a Standard Webhooks receiver accepts the headers we send, and a
    receiver holding another secret does not."""
    encoded = base64.b64encode(key).decode()
    secret = ("whsec_" if prefixed else "") + (encoded if padded else encoded.rstrip("="))
    body = orjson.dumps(payload)
    headers = signing.headers([secret], msg_id, int(time.time()), body)
    Webhook(secret).verify(body, headers)  # raises if it does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(base64.b64encode(key + b"!").decode()).verify(body, headers)
