"""``kbridge route``: one event through the routing core and the sinks' rendering, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from processor.authoring.route import EventInputError, Router, cloudevent_form
from processor.cli import build_app
from processor.config import parse_config
from processor.sinks.http import signing

runner = CliRunner()

ALARM = {
    "id": "alarm-1",
    "source": "cloud.monitor.prod",
    "detail-type": "CloudMonitor Alarm",
    "time": "2026-12-07T10:00:00Z",
    "detail": {
        "severity": "critical",
        "environment": "production",
        "alarmName": "cpu-high",
        "resource": "web-1",
        "currentValue": 97,
        "threshold": 90,
    },
}
SURVEY = {
    "specversion": "1.0",
    "id": "resp-1",
    "source": "saas.questionnaire",
    "type": "questionnaire.response.submitted",
    "time": "2026-12-07T09:00:00Z",
    "datacontenttype": "application/json",
    "data": {"status": "completed", "survey_id": "s-9", "respondent": {"id": "u-1"}},
}
MESSAGE = (
    "### Critical alarm: cpu-high\n- resource: web-1\n- value: 97 (threshold 90)\n"
    "- at: 2026-12-07T10:00:00Z\n"
)


def test_an_aws_event_goes_through_the_gateway_mapping(example_router: Router) -> None:
    out = example_router.route(ALARM, bus="monitoring")
    # PutEvents mapping (processor/gateway/aws.py, design.md): DetailType -> type,
    # Detail -> data, the bus as the kbridgebus extension.
    assert out.event["type"] == "CloudMonitor Alarm"
    assert out.event["data"]["alarmName"] == "cpu-high"
    assert out.event["kbridgebus"] == "monitoring"
    assert out.matched_rules == ["critical-production-alarms"]
    assert [t.target for t in out.targets] == [
        "ops-dingtalk",
        "ops-wecom",
        "ops-feishu",
        "ops-slack",
        "ops-email",
    ]


def test_im_targets_show_the_platform_message(example_router: Router) -> None:
    by_target = {t.target: t for t in example_router.route(ALARM, bus="monitoring").targets}
    dingtalk = by_target["ops-dingtalk"]
    assert dingtalk.payload == MESSAGE
    assert dingtalk.content_type == "text/plain"
    [request] = dingtalk.sent["requests"]
    assert request["body"]["msgtype"] == "markdown"
    assert request["body"]["markdown"] == {"title": "Critical alarm", "text": MESSAGE}
    assert "access_token" not in request["url"]  # the URL is the credential: redacted
    wecom = by_target["ops-wecom"].sent["requests"][0]["body"]
    assert wecom == {"msgtype": "markdown", "markdown": {"content": MESSAGE}}
    email = by_target["ops-email"].sent
    assert email["headers"]["Subject"] == "[critical] CloudMonitor Alarm from cloud.monitor.prod"
    assert email["headers"]["X-Kbridge-Event-Id"] == "alarm-1"
    assert MESSAGE.strip() in email["body"]
    assert "digest" in email  # the email target batches: what is shown is said


def test_mysql_targets_show_the_row(example_router: Router) -> None:
    [aggregate, db] = example_router.route(SURVEY, bus="saas").targets
    assert aggregate.sent["entry_point"] == "survey-aggregate"
    assert aggregate.sent["argument"][0]["data"] == SURVEY["data"]
    assert db.sent["table"] == "survey_responses"
    row = db.sent["row"]
    assert row["id"] == "resp-1"
    assert row["rule"] == "survey-responses"
    assert json.loads(row["data"]) == SURVEY["data"]
    assert row["survey_id"] == '"s-9"'
    assert row["respondent"] == '"u-1"'
    assert row["submitted_at"] is None  # the path selects nothing in this event


WEBHOOK_CONFIG = """
buses: [{name: b}]
connections:
  - {name: key, kind: api_key, header: X-Api-Key, value: sesame}
targets:
  - {name: hook, kind: webhook, url: "https://user:pw@hooks.example.com/in", method: PUT,
     headers: {X-Team: ops}, connection: key, secret: shh, body: structured}
  - {name: fn, kind: function, url: "https://fn.example.com/run"}
  - {name: out, kind: kafka, topic: audit}
rules:
  - name: r
    bus: b
    pattern: {source: [app]}
    targets:
      - {target: hook, transform: {input_paths: {n: $.data.n}, input_template: '{"n": <n>}'}}
      - {target: fn}
      - {target: out, transform: {path: $.data}}
"""


def test_webhook_request_with_auth_masked_and_signature() -> None:
    router = Router(parse_config(WEBHOOK_CONFIG, env={}))
    event = {"specversion": "1.0", "id": "e1", "source": "app", "type": "t", "data": {"n": 5}}
    out = router.route(event, now=1_700_000_000)
    hook, fn, kafka = out.targets
    assert hook.payload == {"n": 5}
    sent = hook.sent
    assert sent["method"] == "PUT"
    assert sent["url"] == "https://user:***@hooks.example.com/in"
    assert sent["headers"]["X-Team"] == "ops"
    assert sent["headers"]["X-Api-Key"] == "***"  # the secret never printed
    assert sent["headers"]["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    assert sent["body"]["data"] == {"n": 5} and sent["body"]["id"] == "e1"
    # the signature is the sink's own, over the exact body at the given time
    body = json.dumps(sent["body"], separators=(",", ":")).encode()
    assert sent["headers"][signing.HEADER] == signing.sign("shh", body, 1_700_000_000)
    assert fn.sent["headers"]["ce-id"] == "e1"  # a URL function: binary mode
    assert kafka.sent["topic"] == "audit"
    assert json.loads(kafka.sent["value"]) == {"n": 5}


def test_a_transform_failure_is_shown_as_the_dead_letter() -> None:
    router = Router(parse_config(WEBHOOK_CONFIG, env={}))
    event = {"specversion": "1.0", "id": "e1", "source": "app", "type": "t", "data": "text"}
    out = router.route(event)
    kafka = out.targets[2]  # {path: $.data} selects the text
    assert kafka.error is None
    missing = Router(
        parse_config(WEBHOOK_CONFIG.replace("path: $.data}", "path: $.data.gone}"), env={})
    ).route(event)
    [dead] = [t for t in missing.targets if t.target == "out"]
    # the router's own dead-letter reason (processor/transform/simple.py)
    assert dead.error == "transform of rule 'r' failed: path $.data.gone selected nothing"
    assert dead.sent == {}


def test_input_that_is_not_an_event(example_router: Router) -> None:
    with pytest.raises(EventInputError, match="neither a CloudEvent"):
        example_router.route({"hello": 1}, bus="saas")
    with pytest.raises(EventInputError, match=r"which bus\? give --bus \(buses: saas, monitoring"):
        example_router.route(SURVEY)
    with pytest.raises(EventInputError, match="the event must be a JSON object"):
        example_router.route([1], bus="saas")  # type: ignore[arg-type]
    with pytest.raises(EventInputError, match="bus 'sas' is not defined \\(did you mean 'saas'"):
        example_router.route(SURVEY, bus="sas")
    with pytest.raises(EventInputError, match="MalformedDetail"):
        cloudevent_form({"source": "a", "detail-type": "b", "detail": "[1]"}, "b")


def test_cli_reads_stdin_and_prints_json(examples: Path) -> None:
    result = runner.invoke(
        build_app(),
        ["route", "-f", str(examples / "kbridge.yaml"), "--bus", "saas", "-e", "-", "-o", "json"],
        input=json.dumps(SURVEY),
        env={"SURVEY_DB_URL": "mysql+pymysql://u:p@db.example.com/x"},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["matched_rules"] == ["survey-responses"]
    assert data["targets"][1]["sent"]["row"]["id"] == "resp-1"


def test_cli_text_output_and_exit_codes(examples: Path, tmp_path: Path) -> None:
    event = tmp_path / "alarm.json"
    event.write_text(json.dumps(ALARM))
    args = ["route", "-f", str(examples / "kbridge.yaml"), "--bus", "monitoring"]
    result = runner.invoke(build_app(), [*args, "-e", f"file://{event}"])
    assert result.exit_code == 0
    assert "matched: critical-production-alarms" in result.stdout
    assert "critical-production-alarms -> ops-slack (slack)" in result.stdout
    quiet = dict(ALARM, detail={"severity": "low"})
    result = runner.invoke(build_app(), [*args, "-e", json.dumps(quiet)])
    assert result.exit_code == 1
    assert "no rule matched" in result.stdout
    big = dict(ALARM, detail={**ALARM["detail"], "note": "x" * 5000})  # type: ignore[dict-item]
    result = runner.invoke(build_app(), [*args, "-e", json.dumps(big)])
    assert result.exit_code == 0  # long inline JSON is not mistaken for a file name
    result = runner.invoke(build_app(), [*args, "-e", str(event)])  # a plain path works too
    assert result.exit_code == 0
    result = runner.invoke(build_app(), [*args, "-e", "{not json"])
    assert result.exit_code == 2
    assert "error: the event is not JSON" in result.stderr
    result = runner.invoke(build_app(), [*args, "-e", json.dumps(ALARM), "-o", "xml"])
    assert result.exit_code == 2
    assert "unknown output format 'xml'" in result.stderr


def test_cli_config_problems_exit_2_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "kbridge.yaml"
    bad.write_text("buses: [{name: b, partitons: 3}]\n")
    result = runner.invoke(build_app(), ["route", "-f", str(bad), "-e", "{}"])
    assert result.exit_code == 2
    assert f"{bad}:1:19: buses[b].partitons: unknown key 'partitons' (did you mean " in (
        result.stderr
    )
