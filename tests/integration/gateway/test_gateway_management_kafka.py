"""Management API against the real config store: CRUD on the rules topic, read back live."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from gateway_harness import ReadBack, serve

from processor.config.store import read_live_config
from processor.events import decode
from processor.gateway.app import create_app
from processor.kafka.admin import delete_topics
from processor.kafka.topics import bus_dlq_topic, bus_topic
from processor.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def rules_topic(gateway_settings: Settings, unique: str) -> Iterator[str]:
    topic = f"kbridge.rules.gw-test-{unique}"
    yield topic
    delete_topics(gateway_settings.kafka, [topic])


def test_management_crud_and_live_buses(
    gateway_settings: Settings, rules_topic: str, unique: str, read_back: ReadBack
) -> None:
    bus = f"mgmt-{unique}"
    app = create_app(gateway_settings, rules_topic=rules_topic)
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(100):  # the store replays the (new, empty) topic first
                if http.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            assert http.get("/readyz").json()["status"] == "ready"
            assert http.post(f"/v1/buses/{bus}/events", json={"Entries": []}).status_code == 404

            created = http.post(
                "/v1/buses", json={"name": bus, "partitions": 2, "max_event_bytes": 2048}
            )
            assert created.status_code == 201, created.text
            assert created.json()["partitions"] == 2
            assert http.post("/v1/buses", json={"name": bus}).status_code == 409
            assert http.get(f"/v1/buses/{bus}").json()["name"] == bus

            # The bus is live: events are accepted and land on its (provisioned) topic.
            entry = {"Source": "acme.app", "DetailType": "t", "Detail": '{"k": 1}'}
            sent = http.post(f"/v1/buses/{bus}/events", json={"Entries": [entry]}).json()
            assert sent["FailedEntryCount"] == 0, sent
            big = {**entry, "Detail": '{"k": "' + "x" * 3000 + '"}'}
            refused_big = http.post(f"/v1/buses/{bus}/events", json={"Entries": [big]}).json()
            assert "exceeds the limit of 2048 bytes" in refused_big["Entries"][0]["ErrorMessage"]
            [record] = read_back(bus_topic(bus), 1)
            assert decode(record.value(), record.headers()).id == sent["Entries"][0]["EventId"]

            connection = {"name": f"c-{unique}", "kind": "api_key", "value": "s3cret"}
            assert http.put(f"/v1/connections/c-{unique}", json=connection).status_code == 201
            fetched = http.get(f"/v1/connections/c-{unique}").json()
            assert fetched["value"] == "**********"
            edited = {**fetched, "description": "edited"}  # GET-modify-PUT keeps the secret
            assert http.put(f"/v1/connections/c-{unique}", json=edited).status_code == 200

            target = {"name": f"t-{unique}", "kind": "webhook", "url": "https://example.com/hook"}
            assert http.post("/v1/targets", json=target).status_code == 201
            rule = {
                "name": f"r-{unique}",
                "bus": bus,
                "pattern": {"source": ["acme.app"]},
                "targets": [{"target": f"t-{unique}"}],
            }
            dangling = {**rule, "targets": [{"target": "missing"}]}
            refused = http.put(f"/v1/rules/r-{unique}", json=dangling)
            assert refused.status_code == 400
            assert "target 'missing' is not defined" in refused.json()["error"]["message"]
            assert refused.json()["error"]["problems"][0]["location"].endswith(".target")
            bad_pattern = http.put(
                f"/v1/rules/r-{unique}", json={**rule, "pattern": {"source": "x"}}
            )
            assert bad_pattern.status_code == 400
            assert "Event pattern is not valid" in bad_pattern.json()["error"]["message"]
            invalid = http.post("/v1/rules", json={**rule, "colour": "red"})
            assert invalid.status_code == 400
            assert "colour" in invalid.json()["error"]["message"]
            mismatch = http.put("/v1/rules/other", json=rule)
            assert mismatch.status_code == 400
            assert mismatch.json()["error"]["code"] == "name-mismatch"

            assert http.put(f"/v1/rules/r-{unique}", json=rule).status_code == 201
            updated = http.put(f"/v1/rules/r-{unique}", json={**rule, "enabled": False})
            assert updated.status_code == 200
            assert [r["name"] for r in http.get("/v1/rules").json()["items"]] == [f"r-{unique}"]

            in_use = http.delete(f"/v1/buses/{bus}")
            assert in_use.status_code == 409
            assert f"bus {bus!r} is not defined" in in_use.json()["error"]["message"]
            assert http.delete(f"/v1/rules/r-{unique}").status_code == 204
            assert http.get(f"/v1/rules/r-{unique}").status_code == 404
            assert http.delete(f"/v1/rules/r-{unique}").status_code == 404
            assert http.delete(f"/v1/buses/{bus}").status_code == 204
            assert http.post(f"/v1/buses/{bus}/events", json={"Entries": []}).status_code == 404

        live = read_live_config(gateway_settings.kafka, topic=rules_topic)
        assert live.bus(bus) is None
        assert live.target(f"t-{unique}") is not None
        assert live.rule(f"r-{unique}") is None
        kept = live.connection(f"c-{unique}")
        assert kept is not None and kept.description == "edited"
        assert kept.value.get_secret_value() == "s3cret"  # type: ignore[union-attr]
    finally:
        delete_topics(gateway_settings.kafka, [bus_topic(bus), bus_dlq_topic(bus)])


def test_webhook_source_declared_through_the_api_receives_deliveries(
    gateway_settings: Settings, rules_topic: str, unique: str, read_back: ReadBack
) -> None:
    """The gateway mounts the webhook router over the live configuration: a GitHub source
    created through the management API verifies and publishes deliveries at once."""
    from processor.gateway.webhooks.github import github_signature

    bus = f"wh-{unique}"
    secret = "It's a Secret to Everybody"
    try:
        app = create_app(gateway_settings, rules_topic=rules_topic)
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            assert http.put(f"/v1/buses/{bus}", json={"name": bus}).status_code == 201
            source = {"name": f"gh-{unique}", "kind": "github", "bus": bus, "secret": secret}
            created = http.put(f"/v1/sources/gh-{unique}", json=source)
            assert created.status_code == 201, created.text
            assert created.json()["secret"] == "**********"
            push = b'{"ref": "refs/heads/main", "repository": {"full_name": "octo/hello"}}'
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": f"delivery-{unique}",
                "X-Hub-Signature-256": github_signature(secret.encode(), push),
            }
            forged = http.post(
                f"/v1/webhooks/gh-{unique}",
                content=push,
                headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
            assert forged.status_code == 401
            delivered = http.post(f"/v1/webhooks/gh-{unique}", content=push, headers=headers)
            assert delivered.status_code == 200, delivered.text
            assert http.post("/v1/webhooks/nobody", content=push).status_code == 404
        [record] = read_back(bus_topic(bus), 1)  # the forged delivery produced nothing
        event = decode(record.value(), record.headers())
        assert event.source == "saas.github"
        assert event.type == "push"
        assert event.id == f"delivery-{unique}"
        assert event.data["ref"] == "refs/heads/main"
    finally:
        delete_topics(gateway_settings.kafka, [bus_topic(bus), bus_dlq_topic(bus)])
