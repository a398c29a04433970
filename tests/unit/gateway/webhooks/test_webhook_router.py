"""The webhook router end to end over ASGI, with an in-memory publish function.

Requests go through httpx's ASGITransport (Starlette's TestClient warns about httpx on this
stack, and warnings are errors in this suite).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from webhook_helpers import feishu_encrypt

from processor.config.sources import (
    DingtalkSource,
    FeishuSource,
    GithubSource,
    MqttSource,
    SlackSource,
    StripeSource,
    TokenSource,
    WecomSource,
)
from processor.errors import FatalError, InvalidEventError, RetriableError
from processor.events import CloudEvent
from processor.gateway.webhooks import build_webhook_router
from processor.gateway.webhooks.dingtalk import dingtalk_signature
from processor.gateway.webhooks.feishu import feishu_signature
from processor.gateway.webhooks.github import github_signature
from processor.gateway.webhooks.slack import slack_signature
from processor.gateway.webhooks.stripe import stripe_signature

GH_SECRET = "It's a Secret to Everybody"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "tok-0123456789abcdef"
NOW = 1_700_000_000.0

SOURCES: dict[str, Any] = {
    "gh": GithubSource(name="gh", bus="saas", secret=GH_SECRET),
    "slack": SlackSource(name="slack", bus="chat", secret=SLACK_SECRET),
    "lark": FeishuSource(name="lark", bus="chat", encrypt_key="test key"),
    "wj": TokenSource(
        name="wj",
        bus="surveys",
        platform="questionnaire",
        token=TOKEN,
        ip_allowlist=["203.0.113.0/24"],
    ),
    "wecom": WecomSource(
        name="wecom",
        bus="chat",
        token="QDG6eK",
        encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        corp_id="wx5823bf96d3bd56c7",
        tolerance_seconds=None,
    ),
    "stripe": StripeSource(name="stripe", bus="pay", secret="whsec_test_secret"),
    "ding": DingtalkSource(name="ding", bus="chat", secret="SECxyz"),
    "sensors": MqttSource(name="sensors", bus="iot", url="mqtt://127.0.0.1", topics=["#"]),
}


class Recorder:
    """In-memory publish: records (bus, event); optionally fails or is slow."""

    def __init__(self) -> None:
        self.published: list[tuple[str, CloudEvent]] = []
        self.fail: Exception | None = None
        self.delay = 0.0

    async def __call__(self, bus: str, event: CloudEvent) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.published.append((bus, event))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_client(recorder: Recorder, client_ip: str = "203.0.113.7", **kw: Any) -> httpx.AsyncClient:
    kw.setdefault("clock", lambda: NOW)
    app = FastAPI()
    app.include_router(build_webhook_router(SOURCES.get, recorder, **kw))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(client_ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://kbridge.test")


@pytest.fixture
def client(recorder: Recorder) -> httpx.AsyncClient:
    return make_client(recorder)


PUSH = orjson.dumps({"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}})


def gh_headers(body: bytes, secret: str = GH_SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": github_signature(secret.encode(), body),
    }


async def test_github_delivery_is_published_then_acknowledged(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    recorder.delay = 0.05
    response = await client.post("/v1/webhooks/gh", content=PUSH, headers=gh_headers(PUSH))
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "ids": ["72d3162e-cc78-11e3-81ab-4c9367dc0958"]}
    [(bus, event)] = recorder.published
    assert bus == "saas"
    assert (event.source, event.type, event.subject) == ("saas.github", "push", "octo/hello")


async def test_wrong_signature_is_401_and_nothing_published(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await client.post("/v1/webhooks/gh", content=PUSH, headers=gh_headers(PUSH, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "X-Hub-Signature-256" in response.json()["error"]["message"]
    assert recorder.published == []


def slack_request(body: bytes, ts: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SLACK_SECRET.encode(), ts, body),
    }


async def test_stale_timestamp_is_401_replay(client: httpx.AsyncClient, recorder: Recorder) -> None:
    body = orjson.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}})
    response = await client.post(
        "/v1/webhooks/slack", content=body, headers=slack_request(body, str(int(NOW) - 600))
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "replay"
    assert "replay" in response.json()["error"]["message"]
    assert recorder.published == []
    fresh = await client.post(
        "/v1/webhooks/slack", content=body, headers=slack_request(body, str(int(NOW)))
    )
    assert fresh.status_code == 200
    assert [(b, e.id, e.type) for b, e in recorder.published] == [("chat", "Ev1", "message")]


async def test_slack_url_verification_publishes_nothing(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    body = orjson.dumps({"token": "x", "challenge": "c-123", "type": "url_verification"})
    response = await client.post(
        "/v1/webhooks/slack", content=body, headers=slack_request(body, str(int(NOW)))
    )
    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}
    assert recorder.published == []


async def test_feishu_encrypted_challenge(client: httpx.AsyncClient, recorder: Recorder) -> None:
    challenge = {"challenge": "ajls384kdjx98XX", "token": "t", "type": "url_verification"}
    body = orjson.dumps({"encrypt": feishu_encrypt("test key", orjson.dumps(challenge))})
    response = await client.post("/v1/webhooks/lark", content=body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "ajls384kdjx98XX"}
    assert recorder.published == []


async def test_wecom_get_url_verification(client: httpx.AsyncClient, recorder: Recorder) -> None:
    echostr = (
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    )
    response = await client.get(
        "/v1/webhooks/wecom",
        params={
            "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
            "timestamp": "1409659589",
            "nonce": "263014780",
            "echostr": echostr,
        },
    )
    assert response.status_code == 200
    assert response.text == "1616140317555161061"
    assert recorder.published == []


async def test_get_is_405_for_platforms_that_only_post(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/webhooks/gh")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method-not-allowed"


ANSWER = orjson.dumps({"id": "a-1", "action": "answer.create", "payload": {"survey_id": 1}})


async def test_token_source(client: httpx.AsyncClient, recorder: Recorder) -> None:
    assert (await client.post(f"/v1/webhooks/wj/{TOKEN}", content=ANSWER)).status_code == 200
    [(bus, event)] = recorder.published
    assert (bus, event.source, event.type, event.id) == (
        "surveys",
        "saas.questionnaire",
        "answer.create",
        "a-1",
    )
    wrong = await client.post("/v1/webhooks/wj/tok-wrong-wrong-wrong", content=ANSWER)
    assert wrong.status_code == 401
    assert (await client.post("/v1/webhooks/wj", content=ANSWER)).status_code == 401
    assert len(recorder.published) == 1


async def test_ip_allowlist_is_403(recorder: Recorder) -> None:
    client = make_client(recorder, client_ip="198.51.100.1")
    response = await client.post(f"/v1/webhooks/wj/{TOKEN}", content=ANSWER)
    assert response.status_code == 403
    assert "allowlist" in response.json()["error"]["message"]
    assert recorder.published == []


async def test_path_token_on_a_signed_source_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/webhooks/gh/whatever", content=PUSH, headers=gh_headers(PUSH))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["nope", "sensors"])
async def test_unknown_or_non_webhook_source_is_404(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post(f"/v1/webhooks/{name}", content=b"{}")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not-found", "message": f"no webhook source named '{name}'"}
    }


async def test_malformed_body_is_400(client: httpx.AsyncClient, recorder: Recorder) -> None:
    body = b'{"ref": '
    response = await client.post("/v1/webhooks/gh", content=body, headers=gh_headers(body))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert "JSON" in response.json()["error"]["message"]
    assert recorder.published == []


async def test_body_over_the_limit_is_413(recorder: Recorder) -> None:
    client = make_client(recorder, max_body_bytes=64)
    body = orjson.dumps({"ref": "x" * 100})
    response = await client.post("/v1/webhooks/gh", content=body, headers=gh_headers(body))
    assert response.status_code == 413
    assert "64 bytes" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RetriableError("broker down"), 503),
        (InvalidEventError("event too large"), 400),
        (FatalError("topic authorization failed"), 500),
    ],
)
async def test_publish_failures(
    client: httpx.AsyncClient, recorder: Recorder, error: Exception, status: int
) -> None:
    recorder.fail = error
    response = await client.post("/v1/webhooks/gh", content=PUSH, headers=gh_headers(PUSH))
    assert response.status_code == status
    assert recorder.published == []
    if status == 503:
        assert response.headers["Retry-After"] == "1"
        assert "not stored" in response.json()["error"]["message"]


async def test_configuration_not_loaded_is_503(recorder: Recorder) -> None:
    def not_ready(name: str) -> object | None:
        raise RetriableError("the configuration store is not started")

    app = FastAPI()
    app.include_router(build_webhook_router(not_ready, recorder))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kbridge.test") as c:
        response = await c.post("/v1/webhooks/gh", content=PUSH, headers=gh_headers(PUSH))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "unavailable"


async def test_real_clock_is_the_default(recorder: Recorder) -> None:
    client = make_client(recorder, clock=time.time)
    body = orjson.dumps({"type": "event_callback", "event_id": "Ev9", "event": {"type": "m"}})
    ts = str(int(time.time()))
    headers = slack_request(body, ts)
    response = await client.post("/v1/webhooks/slack", content=body, headers=headers)
    assert response.status_code == 200


FUZZ = settings(max_examples=100, deadline=None)
FUZZ_HEADERS = [
    "X-Hub-Signature-256",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Slack-Request-Timestamp",
    "X-Slack-Signature",
    "X-Lark-Signature",
    "X-Lark-Request-Timestamp",
    "X-Lark-Request-Nonce",
    "Content-Type",
    "Stripe-Signature",
]


async def _post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Recorder]:
    recorder = Recorder()
    async with make_client(recorder) as client:
        response = await client.post(path, content=body, headers=headers)
    return response.status_code, recorder


@FUZZ
@given(
    name=st.sampled_from(["gh", "slack", "lark", "wecom", "wj", "sensors", "x"]),
    token=st.one_of(
        st.none(),
        st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=20),
    ),
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.sampled_from(FUZZ_HEADERS),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
        max_size=5,
    ),
)
def test_fuzzed_requests_never_5xx(
    name: str, token: str | None, body: bytes, headers: dict[str, str]
) -> None:
    path = f"/v1/webhooks/{name}" + (f"/{token}" if token else "")
    status, recorder = asyncio.run(_post(path, body, headers))
    assert status < 500
    assert recorder.published == []


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.from_regex(rb"\{.{0,80}\}", fullmatch=True)))
def test_fuzzed_correctly_signed_bodies_never_5xx(body: bytes) -> None:
    """Authentic but arbitrary bodies: malformed ones are 400, never 500."""
    headers = gh_headers(body)
    expected = hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == "sha256=" + expected
    status, recorder = asyncio.run(_post("/v1/webhooks/gh", body, headers))
    assert status in (200, 400)
    assert len(recorder.published) == (1 if status == 200 else 0)


def signed_headers(name: str, body: bytes) -> dict[str, str]:
    """Correct signature headers for ``body`` on each signed test source."""
    ts = str(int(NOW))
    if name == "gh":
        return gh_headers(body)
    if name == "slack":
        return slack_request(body, ts)
    if name == "stripe":
        sig = stripe_signature(b"whsec_test_secret", ts, body)
        return {"Stripe-Signature": f"t={ts},v1={sig}"}
    if name == "ding":
        ms = str(int(NOW * 1000))
        return {"timestamp": ms, "sign": dingtalk_signature("SECxyz", ms)}
    assert name == "lark"
    return {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": "n",
        "X-Lark-Signature": feishu_signature(ts, "n", "test key", body),
    }


KEYS = st.sampled_from(
    [
        "type",
        "event",
        "event_id",
        "event_time",
        "id",
        "created",
        "data",
        "object",
        "msgId",
        "msgtype",
        "createAt",
        "conversationId",
        "header",
        "event_type",
        "create_time",
        "schema",
        "challenge",
        "token",
        "uuid",
        "repository",
        "full_name",
        "channel",
        "team_id",
        "message",
        "chat_id",
        "encrypt",
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=12)
    | st.sampled_from(["url_verification", "event_callback", "2.0", "text", "1700000000"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=20,
)


@FUZZ
@given(
    name=st.sampled_from(["gh", "slack", "stripe", "ding", "lark"]),
    payload=st.dictionaries(KEYS, JSON, max_size=8),
)
def test_fuzzed_signed_json_payloads_are_2xx_or_400(name: str, payload: dict[str, Any]) -> None:
    """Authentic deliveries with arbitrary JSON: mapped or refused as malformed, never 5xx."""
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json", **signed_headers(name, body)}
    if name == "gh":
        headers["X-GitHub-Event"] = "push"
    status, recorder = asyncio.run(_post(f"/v1/webhooks/{name}", body, headers))
    # A Feishu body with an "encrypt" string that our key cannot decrypt is not authentic.
    allowed = {200, 400} | ({401} if name == "lark" and "encrypt" in payload else set())
    assert status in allowed, (status, payload)
    if status == 200:
        assert len(recorder.published) <= 1  # 0 for a handshake
    else:
        assert recorder.published == []
