"""Stripe: signature vector, several v1 candidates, v0 ignored, replay window, mapping."""

from __future__ import annotations

import orjson
import pytest

from processor.config.sources import StripeSource
from processor.gateway.webhooks import (
    WebhookAuthError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
)
from processor.gateway.webhooks.stripe import (
    StripeConnector,
    parse_signature_header,
    stripe_signature,
)

SECRET = "whsec_test_secret"
T = "1700000000"
BODY = b'{"id":"evt_test","object":"event"}'
VECTOR = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724"


def connector() -> StripeConnector:
    return StripeConnector(StripeSource(name="stripe", bus="saas", secret=SECRET))


def request(header: str, body: bytes = BODY) -> WebhookRequest:
    return WebhookRequest.build(body, {"Stripe-Signature": header})


def test_vector() -> None:
    assert stripe_signature(SECRET.encode(), T, BODY) == VECTOR
    connector().verify(request(f"t={T},v1={VECTOR}"), now=float(T) + 10)


def test_any_v1_candidate_matches_during_secret_rotation() -> None:
    header = f"t={T},v1={'0' * 64},v1={VECTOR},v0={'1' * 64}"
    assert parse_signature_header(header) == (T, ["0" * 64, VECTOR])
    connector().verify(request(header), now=float(T))


def test_v0_alone_is_not_accepted() -> None:
    with pytest.raises(WebhookAuthError, match="no v1"):
        connector().verify(request(f"t={T},v0={VECTOR}"), now=float(T))


@pytest.mark.parametrize(
    "header",
    [
        f"v1={VECTOR}",
        f"t={T}",
        f"t={T},v1={'0' * 64}",
        f"t=1700000001,v1={VECTOR}",
        f"t=abc,v1={VECTOR}",
        "garbage",
        "",
    ],
)
def test_rejections(header: str) -> None:
    with pytest.raises(WebhookAuthError):
        connector().verify(request(header), now=float(T))


def test_stale_timestamp_is_a_replay() -> None:
    with pytest.raises(WebhookReplayError, match="replay"):
        connector().verify(request(f"t={T},v1={VECTOR}"), now=float(T) + 301)


def test_maps_event() -> None:
    payload = {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "object": "event",
        "type": "charge.succeeded",
        "created": 1686089970,
        "data": {"object": {"id": "ch_3NG8Dt2eZvKYlo2C0ZnyTZ3b", "object": "charge"}},
    }
    [event] = connector().to_events(request("", orjson.dumps(payload)))
    assert event.source == "saas.stripe"
    assert event.type == "charge.succeeded"
    assert event.id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
    assert event.subject == "ch_3NG8Dt2eZvKYlo2C0ZnyTZ3b"
    assert event.time == "2023-06-06T22:19:30Z"
    assert event.data == payload


@pytest.mark.parametrize(
    "body", [b"nope", b'{"type":"x"}', b'{"id":"evt_1"}', b'{"id":5,"type":"x"}']
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        connector().to_events(request("", body))


def test_out_of_range_created_is_dropped_not_a_500() -> None:
    payload = {"id": "evt_1", "type": "x.y", "created": 10**18}
    [event] = connector().to_events(request("", orjson.dumps(payload)))
    assert event.time is None
