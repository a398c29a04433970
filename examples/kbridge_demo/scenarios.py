"""What the three scenarios send: survey responses, cloud alarms, key-management events."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any


def http_json(url: str, body: Any | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def survey_responses(run: str) -> list[dict[str, Any]]:
    """Five completed responses and one still in progress (the rule skips it)."""
    people = [("alice", 9, "A", 95), ("bob", 7, "B", 120), ("carol", 10, "A", 80),
              ("dave", 6, "C", 150), ("erin", 8, "A", 101), ("frank", 3, "B", 20)]
    out = []
    for i, (who, score, choice, duration) in enumerate(people):
        out.append({
            "id": f"{run}-resp-{i}",
            "action": "questionnaire.response.submitted",
            "status": "completed" if who != "frank" else "in_progress",
            "survey_id": f"nps-{run}",
            "respondent": {"id": who},
            "respondent_id": who,
            "submitted_at": now_iso(),
            "duration": duration,
            "answers": {"How likely are you to recommend us (0-10)?": score,
                        "Which plan do you use?": choice},
        })
    return out


def alarm_entries(run: str) -> list[dict[str, Any]]:
    """Three critical production alarms (delivered) and two that the rule filters out."""
    alarms = [
        ("critical", "production", f"cpu-high-{run}", "i-0a1b2c web-01", 97.5, 90),
        ("critical", "prod", f"disk-full-{run}", "disk /data on db-02", 99.1, 95),
        ("critical", "production", f"error-rate-{run}", "api-gateway", 12.4, 5),
        ("warning", "production", f"latency-{run}", "api-gateway", 850, 800),
        ("critical", "staging", f"cpu-high-staging-{run}", "i-9z8y staging-01", 99, 90),
    ]
    return [{
        "Source": "cloud.monitor.cms",
        "DetailType": "CloudMonitor Alarm",
        "Resources": [resource],
        "Detail": json.dumps({"severity": sev, "environment": env, "alarmName": name,
                              "resource": resource, "currentValue": value,
                              "threshold": threshold}),
    } for sev, env, name, resource, value, threshold in alarms]


def kms_events(run: str) -> list[Any]:
    from processor.events.model import CloudEvent

    kinds = ["kms.key.created", "kms.key.rotated", "kms.data.encrypt", "kms.data.decrypt"]
    out = []
    for i in range(20):
        out.append(CloudEvent(
            id=f"{run}-kms-{i}", source="kms.cn-hangzhou", type=kinds[i % 4],
            subject=f"key-{i % 5}", time=now_iso(), datacontenttype="application/json",
            data={"keyId": f"key-{i % 5}", "principal": f"acs:ram::1234:user/app-{i % 3}",
                  "requestId": str(uuid.uuid4())},
        ))
    return out
