"""SigV4 verification checked against botocore's own signer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from processor.gateway.sigv4 import SigV4Error, parse_authorization, verify

SECRETS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
BODY = b'{"Entries": [{"Source": "a", "DetailType": "b", "Detail": "{}"}]}'


def signed(
    secret: str = SECRETS["AKIDEXAMPLE"], url: str = "http://127.0.0.1:8080/"
) -> tuple[dict[str, str], datetime]:
    request = AWSRequest(
        method="POST",
        url=url,
        data=BODY,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSEvents.PutEvents",
        },
    )
    SigV4Auth(Credentials("AKIDEXAMPLE", secret), "events", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = url.split("/")[2]
    return headers, datetime.now(UTC)


def check(headers: dict[str, str], body: bytes = BODY, now: datetime | None = None) -> str:
    return verify(
        method="POST", path="/", query=[], headers=headers, body=body, secrets=SECRETS, now=now
    )


def test_botocore_signature_verifies() -> None:
    headers, _ = signed()
    assert check(headers) == "AKIDEXAMPLE"


def test_tampered_body_is_refused() -> None:
    headers, _ = signed()
    with pytest.raises(SigV4Error, match="does not match the signature you provided"):
        check(headers, body=BODY.replace(b'"a"', b'"x"'))


def test_wrong_secret_is_refused() -> None:
    headers, _ = signed(secret="not-the-secret")
    with pytest.raises(SigV4Error, match="does not match"):
        check(headers)


def test_tampered_signed_header_is_refused() -> None:
    headers, _ = signed()
    headers["x-amz-target"] = "AWSEvents.TestEventPattern"
    with pytest.raises(SigV4Error, match="does not match"):
        check(headers)


def test_stale_request_is_refused() -> None:
    headers, signed_at = signed()
    with pytest.raises(SigV4Error, match="Signature expired"):
        check(headers, now=signed_at + timedelta(minutes=16))


def test_unknown_key_and_unsigned() -> None:
    headers, _ = signed()
    with pytest.raises(SigV4Error, match="unknown access key id"):
        verify(method="POST", path="/", query=[], headers=headers, body=BODY, secrets={})
    with pytest.raises(SigV4Error, match="not signed"):
        check({"host": "x"})


def test_parse_authorization() -> None:
    headers, _ = signed()
    auth = parse_authorization(headers["authorization"])
    assert auth.access_key_id == "AKIDEXAMPLE"
    assert auth.region == "us-east-1"
    assert auth.service == "events"
    assert "host" in auth.signed_headers
    with pytest.raises(SigV4Error, match="not an AWS4-HMAC-SHA256"):
        parse_authorization("Bearer abc")
