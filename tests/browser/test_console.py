"""The web console in a real browser against a running gateway, router, sink and Kafka.

One walk through every page (issue 18 items 4 and 5), as an operator would: type the API
key, see the configuration (secrets masked), route an event in the sandbox, watch an event
arrive in the live tail, look up its trace (accepted -> routed -> dead-lettered), and
redrive its dead letter, which Kafka then holds again on the target's egress topic. A
read-only key may look but not redrive. Screenshots go to docs/console/ when
``KBRIDGE_CONSOLE_SCREENSHOTS=1`` (how docs/console.md's images were made).
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.test_pipeline import free_port, wait_for
from tests.support.kbridge import ROOT, Kbridge, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

ADMIN_KEY = "console-admin-key-0123456789"
READ_KEY = "console-read-key-0123456789"
SHOTS = ROOT / "docs" / "console"


class Refuser(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that refuses everything with 400: each delivery is dead-lettered."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(400)
        self.end_headers()
        self.wfile.write(b"unknown channel")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def refuser() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuser)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def http_json(port: int, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Api-Key": key, "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def shot(driver: WebDriver, name: str) -> None:
    if os.environ.get("KBRIDGE_CONSOLE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / f"{name}.png"))


def until(driver: WebDriver, seconds: float, check: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(check)


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def test_console_pages_in_chromium(
    kbridge: Kbridge, refuser: int, browser: WebDriver, tmp_path: Path
) -> None:
    u = kbridge.unique
    bus, target, rule = f"cons-{u}", f"hook-{u}", f"to-hook-{u}"
    kbridge.env["KBRIDGE_TRACE__TOPIC"] = f"kbridge.trace.test-{u}"
    kbridge.env["KBRIDGE_GATEWAY__AUTH_ENABLED"] = "true"
    kbridge.env["KBRIDGE_GATEWAY__ADMIN_API_KEY"] = ADMIN_KEY
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"api_keys": [_entry("viewer", READ_KEY, ["read"])]}))
    kbridge.apply(f"""
buses: [{{name: {bus}, partitions: 1}}]
connections:
  - {{name: hook-auth-{u}, kind: api_key, header: X-Token, value: s3cret-{u}}}
targets:
  - {{name: {target}, kind: webhook, url: "http://127.0.0.1:{refuser}/hook",
      allow_private_network: true, connection: hook-auth-{u}}}
rules:
  - name: {rule}
    bus: {bus}
    pattern: {{source: [shop.orders], detail-type: [OrderPlaced]}}
    targets:
      - target: {target}
        transform:
          input_paths: {{order: $.detail.order_id}}
          input_template: '{{"order": <order>}}'
""")
    port = free_port()
    kbridge.start("gateway", "--port", str(port), "--api-keys", str(keys), name="gateway")
    kbridge.start("router", "--engine", "native", "--group-id", f"cons-{u}", name="router")
    kbridge.start("sink", target, name="sink")

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(ready, 60, "the gateway to be ready\n" + kbridge.logs())
    base = f"http://127.0.0.1:{port}/console"

    # overview: the key goes in once; configuration shown, the secret masked
    browser.get(base)
    browser.find_element(By.ID, "api-key").send_keys(ADMIN_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    until(browser, 20, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
    overview = text(browser, "view-overview")
    assert rule in overview and target in overview and "shop.orders" in overview
    assert "**********" in text(browser, "connections") and f"s3cret-{u}" not in overview
    assert "admin" in text(browser, "who")
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert "not available" in text(browser, "status-note") or "GET /v1/status" in text(
        browser, "status-note"
    )
    shot(browser, "overview")

    # sandbox: the rule matches and the target's transformed payload is shown
    browser.get(base + "#sandbox")
    area = browser.find_element(By.ID, "sandbox-event")
    area.clear()
    area.send_keys(
        json.dumps(
            {
                "Source": "shop.orders",
                "DetailType": "OrderPlaced",
                "EventBusName": bus,
                "Detail": json.dumps({"order_id": 7}),
            }
        )
    )
    browser.find_element(By.ID, "sandbox-run").click()
    until(browser, 15, lambda d: d.find_elements(By.CSS_SELECTOR, ".sandbox-target"))
    assert text(browser, "sandbox-matched") == rule
    card = browser.find_element(By.CSS_SELECTOR, ".sandbox-target").text
    assert '"order": 7' in card and f"s3cret-{u}" not in card
    shot(browser, "sandbox")

    # live tail: an event sent after the tail is ready appears in it
    browser.get(base + "#tail")
    Select(browser.find_element(By.ID, "tail-bus")).select_by_value(bus)
    browser.find_element(By.ID, "tail-pattern").send_keys('{"source": ["shop.orders"]}')
    browser.find_element(By.ID, "tail-start").click()
    until(browser, 20, lambda d: "tailing" in d.find_element(By.ID, "tail-state").text)
    status, sent = http_json(
        port,
        f"/v1/buses/{bus}/events",
        ADMIN_KEY,
        {
            "Entries": [
                {  # not shown: the tail's filter wants source shop.orders
                    "Source": "shop.billing",
                    "DetailType": "InvoiceSent",
                    "EventBusName": bus,
                    "Detail": "{}",
                },
                {
                    "Source": "shop.orders",
                    "DetailType": "OrderPlaced",
                    "EventBusName": bus,
                    "Detail": json.dumps({"order_id": 8}),
                },
            ]
        },
    )
    assert status == 200 and sent["FailedEntryCount"] == 0, sent
    other_id, event_id = (entry["EventId"] for entry in sent["Entries"])
    until(
        browser,
        20,
        lambda d: (
            event_id in [e.text for e in d.find_elements(By.CSS_SELECTOR, "#tail-events .tail-id")]
        ),
    )
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#tail-events .tail-id")]
    assert shown == [event_id] and other_id not in shown  # both on one partition, in order
    shot(browser, "tail")
    browser.find_element(By.ID, "tail-stop").click()

    # trace: accepted -> routed -> dead-lettered (the refusing webhook), with its error
    browser.get(base + "#trace")
    browser.find_element(By.ID, "trace-id").send_keys(event_id)

    def dead_lettered(driver: WebDriver) -> bool:
        driver.find_element(By.ID, "trace-run").click()
        time.sleep(1.0)
        found = driver.find_elements(By.ID, "trace-outcome")
        return bool(found) and found[0].text == "dead-lettered"

    until(browser, 40, dead_lettered)
    timeline = text(browser, "trace-result")
    assert "accepted" in timeline and "routed" in timeline and "400" in timeline
    shot(browser, "trace")

    # dead letters: the letter with its error headers, then redrive it from the page
    browser.get(base + "#deadletters")
    Select(browser.find_element(By.ID, "dlq-target")).select_by_value(target)
    browser.find_element(By.ID, "dlq-load").click()
    until(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, ".dlq-item"))
    item = browser.find_element(By.CSS_SELECTOR, ".dlq-item")
    assert event_id in item.text and "400" in item.text
    item.find_element(By.TAG_NAME, "summary").click()  # the dead-letter headers
    assert "kbridge-error-code" in item.text and "http-400" in item.text  # the DLQ headers
    shot(browser, "deadletters")
    item.find_element(By.CSS_SELECTOR, ".dlq-redrive-one").click()
    until(browser, 20, lambda d: "redriven: 1" in d.find_element(By.ID, "dlq-state").text)
    egress = read_topic(kbridge.bootstrap, f"kbridge.target.{target}", 2, timeout=20, settle=0)
    assert len(egress) >= 2  # the routed record and the redriven one
    assert egress[-1].value() == egress[0].value()

    # the sink refuses the redriven record again: two letters now; "Redrive all" sends both
    def two_letters(driver: WebDriver) -> bool:
        driver.find_element(By.ID, "dlq-load").click()
        time.sleep(0.5)
        return len(driver.find_elements(By.CSS_SELECTOR, ".dlq-item")) == 2

    until(browser, 30, two_letters)
    browser.find_element(By.ID, "dlq-redrive-all").click()
    until(browser, 20, lambda d: "redriven: 2" in d.find_element(By.ID, "dlq-state").text)

    # a read-only key sees everything but may not redrive: the page disables the buttons
    browser.get(base + "#deadletters")
    browser.find_element(By.ID, "api-key").send_keys(READ_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    until(browser, 20, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
    assert "read-only" in text(browser, "who")
    assert not browser.find_element(By.ID, "dlq-redrive-all").is_enabled()
    Select(browser.find_element(By.ID, "dlq-target")).select_by_value(target)
    browser.find_element(By.ID, "dlq-load").click()
    until(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, ".dlq-redrive-one"))
    buttons = browser.find_elements(By.CSS_SELECTOR, ".dlq-redrive-one")
    assert not any(b.is_enabled() for b in buttons)
    status, me = http_json(port, "/v1/console/whoami", READ_KEY)
    assert status == 200 and me == {"auth": True, "key": "viewer", "write": False}
    assert http_json(port, "/v1/console/config", READ_KEY)[0] == 200
    status, refused = http_json(
        port, f"/v1/console/deadletters/{target}/redrive", READ_KEY, body={}
    )
    assert status == 403 and refused["error"]["code"] == "forbidden"
    assert http_json(port, "/v1/console/config", "wrong-key")[0] == 401


def _entry(name: str, key: str, scopes: list[str]) -> dict[str, Any]:
    from processor.gateway.auth import dump_key

    return dict(json.loads(dump_key(name, key, scopes)))
