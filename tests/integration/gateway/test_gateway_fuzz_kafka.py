"""Fuzzing the running gateway with malformed requests: never a 5xx, the process stays up.

Thousands of generated requests (random bytes, random JSON, near-valid PutEvents entries,
random ``ce-`` headers, random AWS JSON 1.1 targets, random management objects) against a
gateway with a real producer and a real config store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from gateway_harness import serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.gateway.app import create_app
from processor.kafka.admin import delete_topics
from processor.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

INTS = st.integers(-(2**63), 2**63 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | INTS | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
field_values = st.none() | st.text(max_size=30) | INTS | json_values
entries = st.fixed_dictionaries(
    {},
    optional={
        "Source": field_values,
        "DetailType": field_values,
        "Detail": st.one_of(field_values, json_values.map(lambda v: orjson.dumps(v).decode())),
        "Resources": st.one_of(field_values, st.lists(st.text(max_size=10), max_size=3)),
        "Time": st.one_of(field_values, st.floats(allow_nan=True, allow_infinity=True)),
        "EventBusName": st.one_of(field_values, st.just("default")),
        "TraceHeader": field_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(orjson.dumps),
    st.lists(entries, max_size=12).map(lambda e: orjson.dumps({"Entries": e})),
)
header_names = st.sampled_from(
    [
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-time",
        "ce-subject",
        "ce-dataschema",
        "ce-Bad_Name",
        "ce-x",
        "content-type",
        "x-amz-target",
        "authorization",
        "content-encoding",
    ]
)
header_values = st.one_of(
    st.sampled_from(
        [
            "1.0",
            "0.3",
            "application/json",
            "application/cloudevents+json",
            "application/cloudevents-batch+json",
            "text/plain",
            "AWSEvents.PutEvents",
            "AWSEvents.TestEventPattern",
            "AWS4-HMAC-SHA256 Credential=x",
            "%zz",
            "",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
)
headers = st.dictionaries(header_names, header_values.map(str.strip), max_size=8)


@pytest.fixture
def fuzz_url(gateway_settings: Settings, gateway_bus: str, unique: str) -> Iterator[str]:
    rules_topic = f"kbridge.rules.gw-fuzz-{unique}"
    app = create_app(gateway_settings, rules_topic=rules_topic)
    # The fuzzed bus exists in the live configuration, so valid events reach Kafka.
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        created = http.put(f"/v1/buses/{gateway_bus}", json={"name": gateway_bus})
        assert created.status_code in (200, 201), created.text
        yield url
    delete_topics(gateway_settings.kafka, [rules_topic])


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.headers.get("content-type", "").startswith("application/json"):
        response.json()


def test_fuzz_every_entry_point(fuzz_url: str, gateway_bus: str) -> None:
    http = httpx.Client(base_url=fuzz_url, timeout=30)
    count = {"requests": 0}

    def send(method: str, path: str, body: bytes, hdrs: dict[str, str]) -> None:
        check(http.request(method, path, content=body, headers=hdrs))
        count["requests"] += 1

    @FUZZ
    @given(body=bodies, hdrs=headers)
    def putevents(body: bytes, hdrs: dict[str, str]) -> None:
        # JSON unless the fuzz picked a type: otherwise the guard's 415 would answer most
        send(
            "POST",
            f"/v1/buses/{gateway_bus}/events",
            body,
            {"content-type": "application/json", **hdrs},
        )

    @FUZZ
    @given(body=bodies, hdrs=headers)
    def cloudevents(body: bytes, hdrs: dict[str, str]) -> None:
        send("POST", f"/v1/buses/{gateway_bus}/cloudevents", body, hdrs)

    @FUZZ
    @given(
        body=bodies,
        hdrs=headers,
        target=st.sampled_from(
            ["AWSEvents.PutEvents", "AWSEvents.TestEventPattern", "AWSEvents.Nope", ""]
        ),
    )
    def aws(body: bytes, hdrs: dict[str, str], target: str) -> None:
        send("POST", "/", body, {**hdrs, "x-amz-target": target})

    @FUZZ
    @given(pattern=json_values, event=json_values)
    def pattern_test(pattern: Any, event: Any) -> None:
        send(
            "POST",
            "/v1/test-event-pattern",
            orjson.dumps({"pattern": pattern, "event": event}),
            {"content-type": "application/json"},
        )

    @FUZZ
    @given(
        section=st.sampled_from(["rules", "connections", "widgets"]),
        name=st.text(alphabet="abc-_./%", min_size=1, max_size=8),
        body=st.one_of(
            bodies,
            st.dictionaries(
                st.sampled_from(["name", "bus", "pattern", "targets", "kind", "value", "x"]),
                json_values,
                max_size=5,
            ).map(orjson.dumps),
        ),
        method=st.sampled_from(["PUT", "POST", "GET", "DELETE"]),
    )
    def management(section: str, name: str, body: bytes, method: str) -> None:
        path = f"/v1/{section}" if method == "POST" else f"/v1/{section}/{name}"
        send(method, path, body, {"content-type": "application/json"})

    for run in (putevents, cloudevents, aws, pattern_test, management):
        run()
    assert count["requests"] >= 1500
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
    http.close()
