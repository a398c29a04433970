"""deploy/grafana/kbridge.json: every query uses metrics that exist, with labels they have.

kbridge metrics are read from the prometheus_client constructors in processor/; the few
Kafka metrics come from the Kafka exporter that docker-compose.yml runs (kafka-exporter).
"""

from __future__ import annotations

import json
import re
from typing import Any

from deploy_helpers import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "kbridge.json"
# danielqsj/kafka-exporter metric names and labels (docker-compose.yml service kafka-exporter)
KAFKA_EXPORTER = {
    "kafka_consumergroup_lag": {"consumergroup", "topic", "partition"},
    "kafka_topic_partition_current_offset": {"topic", "partition"},
    "kafka_topic_partition_oldest_offset": {"topic", "partition"},
}
SERIES_SUFFIXES = {"Counter": ("_total",), "Histogram": ("_bucket", "_sum", "_count"),
                   "Gauge": ("",), "Summary": ("_sum", "_count", "")}
CONSTRUCTOR = re.compile(
    r"\b(Counter|Histogram|Gauge|Summary)\(\s*\"(kbridge_\w+)\"\s*,\s*(?:\"[^\"]*\"\s*)+,"
    r"\s*\[([^\]]*)\]",
    re.S,
)


# custom collectors (processor/sources/metrics.py): CounterMetricFamily("kbridge_x", "help",
# labels=names) with names = ["a", "b"] in the same function, or labels=[*names, "c"]
FAMILY = re.compile(
    r"\b(Counter|Gauge)MetricFamily\(\s*\"(kbridge_\w+)\"\s*,\s*(?:\"[^\"]*\"\s*)+,"
    r"\s*labels=(\[[^\]]*\]|\w+)",
    re.S,
)


def _family_labels(source: str, labels: str) -> set[str]:
    found: set[str] = set()
    for item in labels.strip("[]").split(","):
        item = item.strip()
        if item.startswith('"'):
            found.add(item.strip('"'))
        elif item:
            variable = item.lstrip("*")
            assigned = re.search(rf"\b{variable}\s*=\s*\[([^\]]*)\]", source)
            assert assigned, f"labels={labels}: no list assigned to {variable}"
            found |= set(re.findall(r"\"(\w+)\"", assigned.group(1)))
    return found


def kbridge_series() -> dict[str, set[str]]:
    """Every exposed series name of processor/'s metrics -> its labels."""
    series: dict[str, set[str]] = {}
    for path in (ROOT / "processor").rglob("*.py"):
        source = path.read_text()
        for kind, name, labels in CONSTRUCTOR.findall(source):
            names = set(re.findall(r"\"(\w+)\"", labels))
            for suffix in SERIES_SUFFIXES[kind]:
                extra = {"le"} if suffix == "_bucket" else set()
                series[name.removesuffix("_total") + suffix] = names | extra
        for kind, name, labels in FAMILY.findall(source):
            suffix = "_total" if kind == "Counter" else ""
            series[name.removesuffix("_total") + suffix] = _family_labels(source, labels)
    return series


def exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_source_scan_finds_the_documented_metrics() -> None:
    series = kbridge_series()
    for name in ["kbridge_router_events_received_total", "kbridge_router_events_routed_total",
                 "kbridge_router_latency_seconds_bucket", "kbridge_gateway_events_accepted_total"]:
        assert name in series
    assert series["kbridge_router_events_routed_total"] == {"bus", "rule", "target"}
    assert series["kbridge_sink_destination_up"] == {"target"}  # help text over two lines
    assert series["kbridge_source_events_published_total"] == {"source", "kind", "bus"}
    assert series["kbridge_source_state"] == {"source", "kind", "bus", "state"}


def test_every_expr_uses_existing_metrics_and_labels() -> None:
    known: dict[str, set[str]] = {**kbridge_series(), **KAFKA_EXPORTER}
    for title, expr in exprs():
        used = re.findall(r"\b((?:kbridge|kafka)_\w+)\s*(\{[^}]*\})?", expr)
        assert used, title
        for name, selector in used:
            assert name in known, f"{title}: {name} is no metric of processor/ or kafka-exporter"
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            assert labels <= known[name], f"{title}: {name} has no label {labels - known[name]}"
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            labels = {g.strip() for g in grouping.split(",")}
            assert any(labels <= known[n] for n, _ in used), f"{title}: by ({grouping})"


def test_dashboard_covers_the_issue_list() -> None:
    titles = " ".join(t.lower() for t, _ in exprs())
    for what in ["events in", "matched", "routed per target", "latency", "retries", "dlq",
                 "consumer lag"]:
        assert what in titles, what


def test_panels_are_well_formed() -> None:
    dash: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "kbridge"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["datasource"]["type"] == "prometheus"
        assert p["gridPos"]["x"] >= 0 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        assert [t["refId"] for t in p["targets"]] == [chr(65 + i) for i in range(len(p["targets"]))]
