"""Issues 16.14-16 and 22.1/22.2/22.6 against a real gateway (uvicorn) and the real broker.

* the browser attack of issue 22.1 (cross-origin ``text/plain`` POST creating a webhook
  target with ``allow_private_network``) is refused and creates nothing on kbridge.rules;
* PutEvents size limits as AWS documents them: "Calculating PutEvents event entry size"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html)
  and the 1 MB request limit since 29 January 2026: an entry at the limit is accepted (kbridge's
  own Kafka headers do not count), a request over it is one 400 ValidationException;
* a 999-level Detail reaches Kafka byte for byte; an over-long ``ce-id`` is a 400.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from gateway_harness import ReadBack, serve
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from processor.events import decode
from processor.gateway.app import create_app
from processor.kafka.admin import delete_topics
from processor.kafka.topics import bus_topic
from processor.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def rules_topic(gateway_settings: Settings, unique: str) -> Iterator[str]:
    topic = f"kbridge.rules.guard-{unique}"
    yield topic
    delete_topics(gateway_settings.kafka, [topic])


def test_browser_cannot_create_a_target(
    gateway_settings: Settings, rules_topic: str, unique: str
) -> None:
    target = {
        "name": f"exfil-{unique}",
        "kind": "webhook",
        "url": "http://127.0.0.1:9/x",
        "allow_private_network": True,
    }
    app = create_app(gateway_settings, rules_topic=rules_topic)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(100):
            if http.get("/readyz").status_code == 200:
                break
            time.sleep(0.1)
        browser = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example"}
        attempts = [
            browser,  # the page's own origin and a simple request
            {**browser, "Host": "evil.example"},  # DNS rebinding onto 127.0.0.1
            {"Content-Type": "text/plain"},  # no Origin at all: still not JSON
        ]
        for headers in attempts:
            refused = http.post("/v1/targets", content=orjson.dumps(target), headers=headers)
            assert refused.status_code in (403, 415), refused.text
            assert refused.json()["error"]["code"] in (
                "origin-not-allowed",
                "host-not-allowed",
                "unsupported-media-type",
            )
        rebinding_read = http.get("/v1/targets", headers={"Host": "evil.example"})
        assert rebinding_read.status_code == 403
        assert http.get(f"/v1/targets/{target['name']}").status_code == 404  # nothing created
        created = http.post("/v1/targets", json=target)  # a non-browser client, JSON
        assert created.status_code == 201, created.text


def test_putevents_sizes_as_aws_counts_them(
    gateway_settings: Settings, gateway_bus: str, read_back: ReadBack
) -> None:
    limit = gateway_settings.gateway.max_event_bytes
    source, detail_type = "acme.app", "t"
    padding = limit - len(source) - len(detail_type) - len('{"p":""}')
    detail = orjson.dumps({"p": "x" * padding}).decode()  # AWS entry size == the limit
    at_limit = {"Source": source, "DetailType": detail_type, "Detail": detail}
    over = {**at_limit, "Detail": orjson.dumps({"p": "x" * (padding + 1)}).decode()}
    deep = '{"a":' + "[" * 998 + "1" + "]" * 998 + "}"  # 999 levels
    app = create_app(gateway_settings, known_buses=[gateway_bus, "default"])
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        path = f"/v1/buses/{gateway_bus}/events"
        small = {"Source": source, "DetailType": detail_type, "Detail": deep}
        body = http.post(path, json={"Entries": [at_limit, over, small]}).json()
        assert "EventId" in body["Entries"][0], body["Entries"][0]
        assert body["Entries"][1]["ErrorCode"] == "InvalidArgument"
        assert "EventId" in body["Entries"][2], body["Entries"][2]
        records = read_back(bus_topic(gateway_bus), 2)
        values = sorted((r.value() for r in records), key=len)
        assert values == [deep.encode(), detail.encode()]  # the client's Detail bytes
        assert decode(records[0].value(), records[0].headers()).source == source

        # five entries of ~250 KB: each under the entry limit, together over 1 MiB
        five = [{**at_limit, "Detail": orjson.dumps({"p": "x" * 250_000}).decode()}] * 5
        rest = http.post(path, json={"Entries": five})
        assert rest.status_code == 400
        assert rest.json()["error"] == {
            "code": "ValidationException",
            "message": "Total size of the entries in the request is over the limit.",
        }
        aws = http.post(
            "/",
            content=orjson.dumps({"Entries": [{**e, "EventBusName": gateway_bus} for e in five]}),
            headers={
                "X-Amz-Target": "AWSEvents.PutEvents",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        assert aws.status_code == 400
        assert aws.json() == {
            "__type": "ValidationException",
            "message": "Total size of the entries in the request is over the limit.",
        }

        # issue 22.6: a 60,000-character ce-id is refused at ingest, a 255-character one is not
        ce = {
            "ce-specversion": "1.0",
            "ce-source": "/s",
            "ce-type": "t",
            "content-type": "application/json",
        }
        cloudevents = f"/v1/buses/{gateway_bus}/cloudevents"
        long_id = http.post(cloudevents, content=b"{}", headers={**ce, "ce-id": "i" * 60_000})
        assert long_id.status_code == 400
        assert "at most 255" in long_id.json()["error"]["message"]
        ok = http.post(cloudevents, content=b"{}", headers={**ce, "ce-id": "i" * 255})
        assert ok.status_code == 202, ok.text


BROWSER_TYPES = st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", ""]
)
FOREIGN = st.sampled_from(["http://evil.example", "null", "https://127.0.0.1.evil.example"])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["POST", "PUT", "DELETE", "GET"]),
    section=st.sampled_from(["buses", "rules", "targets", "connections", "sources"]),
    content_type=BROWSER_TYPES | st.just("application/json"),
    origin=FOREIGN | st.none(),
    host=st.sampled_from(["evil.example", "rebind.example:8080"]) | st.none(),
)
def _browser_fuzz(
    http: httpx.Client,
    method: str,
    section: str,
    content_type: str,
    origin: str | None,
    host: str | None,
) -> None:
    browser_like = origin is not None or host is not None
    assume(browser_like or content_type != "application/json")  # a plain API client may write
    headers = {"Content-Type": content_type} if content_type else {}
    if origin:
        headers["Origin"] = origin
    if host:
        headers["Host"] = host
    path = f"/v1/{section}" if method == "POST" else f"/v1/{section}/fuzz"
    body = orjson.dumps({"name": "fuzz", "kind": "webhook", "url": "http://127.0.0.1:9/"})
    response = http.request(method, path, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if browser_like or (method in ("POST", "PUT") and content_type != "application/json"):
        assert response.status_code in (403, 415), (headers, response.status_code)


def test_fuzzed_browser_requests_never_get_through(
    gateway_settings: Settings, rules_topic: str
) -> None:
    """Any foreign Origin or Host, any simple-request type: refused, never a 5xx."""
    app = create_app(gateway_settings, rules_topic=rules_topic)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(100):
            if http.get("/readyz").status_code == 200:
                break
            time.sleep(0.1)
        _browser_fuzz(http)  # type: ignore[call-arg]
        for section in ("buses", "rules", "targets", "connections", "sources"):
            assert http.get(f"/v1/{section}").json()["items"] == []  # nothing was created


def test_plain_text_source_through_the_rest_endpoint(
    gateway_settings: Settings, gateway_bus: str, read_back: ReadBack
) -> None:
    """AWS accepts ``Source: "my source"``; kbridge keeps it and writes a URI-reference."""
    app = create_app(gateway_settings, known_buses=[gateway_bus])
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        entry = {"Source": "my source", "DetailType": "t", "Detail": '{"a": 1}'}
        body = http.post(f"/v1/buses/{gateway_bus}/events", json={"Entries": [entry]}).json()
        assert body["FailedEntryCount"] == 0, body
    (record,) = read_back(bus_topic(gateway_bus), 1)
    event = decode(record.value(), record.headers())
    assert event.source == "my%20source"
    assert event.extensions["awssource"] == "my source"
    assert record.value() == b'{"a": 1}'
