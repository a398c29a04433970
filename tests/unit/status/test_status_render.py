"""kbridge status's three output shapes carry the same report (no Kafka needed)."""

from __future__ import annotations

import io
import json

import yaml
from rich.console import Console

from processor.status.collect import (
    BusStatus,
    GroupStatus,
    SourceStatus,
    StatusReport,
    TargetStatus,
)
from processor.status.render import render


def report() -> StatusReport:
    return StatusReport(
        kafka="127.0.0.1:9092",
        buses=[BusStatus("ops", GroupStatus("kbridge-router", "kbridge.bus.ops", 2, "STABLE"))],
        targets=[
            TargetStatus(
                "db",
                "mysql",
                GroupStatus("kbridge-sink-db", "kbridge.target.db", 0, "EMPTY", lag=7),
                dead_letters=3,
                last_error="database unavailable",
                last_error_code="db-unavailable",
                last_error_at="2026-12-07T11:40:02+00:00",
            )
        ],
        sources=[SourceStatus("beat", "schedule", "ops", "running", members=1)],
        problems=["target db: sink group kbridge-sink-db has no members"],
    )


def test_json_and_yaml_are_the_same_data() -> None:
    as_json = json.loads(render(report(), "json") or "")
    as_yaml = yaml.safe_load(render(report(), "yaml") or "")
    assert as_json == as_yaml
    assert as_json["healthy"] is False
    assert as_json["targets"][0]["sink"]["lag"] == 7
    assert as_json["targets"][0]["dead_letters"] == 3
    assert as_json["sources"][0] == {
        "name": "beat",
        "kind": "schedule",
        "bus": "ops",
        "state": "running",
        "members": 1,
    }


def test_the_table_names_every_object_and_each_problem() -> None:
    out = io.StringIO()
    assert render(report(), "table", Console(file=out, width=200)) is None
    text = out.getvalue()
    for word in ("ops", "kbridge-router", "db", "db-unavailable: database unavailable", "beat"):
        assert word in text
    assert "UNHEALTHY (Kafka 127.0.0.1:9092):" in text
    assert "  - target db: sink group kbridge-sink-db has no members" in text


def test_a_report_without_problems_is_healthy() -> None:
    out = io.StringIO()
    render(StatusReport(kafka="k:9092"), "table", Console(file=out))
    assert out.getvalue().strip() == "healthy (Kafka k:9092)"
