"""GitHub: the official X-Hub-Signature-256 vector, rejection cases, CloudEvent mapping."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from processor.config.sources import GithubSource
from processor.gateway.webhooks import WebhookAuthError, WebhookPayloadError, WebhookRequest
from processor.gateway.webhooks.github import GithubConnector, github_signature

OFFICIAL_SECRET = "It's a Secret to Everybody"
OFFICIAL_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def connector(secret: str = OFFICIAL_SECRET) -> GithubConnector:
    return GithubConnector(GithubSource(name="gh", bus="saas", secret=secret))


def test_official_vector() -> None:
    assert github_signature(OFFICIAL_SECRET.encode(), b"Hello, World!") == OFFICIAL_SIG
    request = WebhookRequest.build(b"Hello, World!", {"X-Hub-Signature-256": OFFICIAL_SIG})
    connector().verify(request, now=0.0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": OFFICIAL_SIG.replace("757", "758")},
        {"X-Hub-Signature-256": OFFICIAL_SIG.removeprefix("sha256=")},
        {"X-Hub-Signature": "sha1=whatever"},
    ],
)
def test_wrong_or_missing_signature(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookAuthError):
        connector().verify(WebhookRequest.build(b"Hello, World!", headers), now=0.0)


def test_wrong_secret_and_tampered_body() -> None:
    signed = {"X-Hub-Signature-256": OFFICIAL_SIG}
    with pytest.raises(WebhookAuthError, match="does not match"):
        connector("other").verify(WebhookRequest.build(b"Hello, World!", signed), now=0.0)
    with pytest.raises(WebhookAuthError, match="does not match"):
        connector().verify(WebhookRequest.build(b"Hello, World?", signed), now=0.0)


def push_request(body: bytes, content_type: str = "application/json") -> WebhookRequest:
    return WebhookRequest.build(
        body,
        {
            "Content-Type": content_type,
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-Hub-Signature-256": github_signature(OFFICIAL_SECRET.encode(), body),
        },
    )


PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}


def test_maps_to_cloudevent() -> None:
    request = push_request(orjson.dumps(PUSH))
    connector().verify(request, now=0.0)
    [event] = connector().to_events(request)
    assert event.source == "saas.github"
    assert event.type == "push"
    assert event.id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert event.subject == "octo/hello"
    assert event.data == PUSH
    assert event.datacontenttype == "application/json"


def test_form_encoded_payload() -> None:
    body = ("payload=" + quote(orjson.dumps(PUSH).decode())).encode()
    request = push_request(body, "application/x-www-form-urlencoded")
    connector().verify(request, now=0.0)
    [event] = connector().to_events(request)
    assert event.data == PUSH


def test_missing_delivery_header_is_malformed() -> None:
    request = WebhookRequest.build(b"{}", {"X-GitHub-Event": "ping"})
    with pytest.raises(WebhookPayloadError, match="X-GitHub-Delivery"):
        connector().to_events(request)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_malformed_body(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        connector().to_events(push_request(body))
