"""Prometheus alert rules (a Prometheus Operator ``PrometheusRule``) for a rendered plan.

The expressions use only series that exist: kbridge's own counters (processor/*/metrics.py;
a Counter ``x`` is exposed as ``x_total``) and the consumer-group series of the Kafka
exporter that docker-compose.yml runs (danielqsj/kafka-exporter: ``kafka_consumergroup_lag``,
``kafka_consumergroup_members``). tests/unit/deploy checks every name and label.
"""

from __future__ import annotations

from typing import Any

from processor.render.plan import ROUTER_GROUP, Plan


def _rule(alert: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {"alert": alert, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary}}


def rules(plan: Plan) -> list[dict[str, Any]]:
    """Lag growing, dead letters appearing (router, sinks, sources), delivery errors, no router
    members, a destination down."""
    groups = "|".join(g.consumer_group for g in plan.groups if g.consumer_group)
    lag = f'sum by (consumergroup) (kafka_consumergroup_lag{{consumergroup=~"{groups}"}})'
    return [
        _rule("KbridgeConsumerLagGrowing", f"{lag} > 1000 and deriv({lag}[10m:1m]) > 0", "10m",
              "warning", "{{ $labels.consumergroup }} is {{ $value }} records behind and falling "
              "further behind"),
        _rule("KbridgeSinkDeadLetters",
              "sum by (target) (increase(kbridge_sink_events_dead_lettered_total[10m])) > 0",
              "0m", "warning", "target {{ $labels.target }} dead-lettered events "
              "(kbridge dlq list {{ $labels.target }})"),
        _rule("KbridgeRouterDeadLetters",
              "sum by (bus) (increase(kbridge_router_events_dead_lettered_total[10m])) > 0",
              "0m", "warning", "the router dead-lettered events of bus {{ $labels.bus }}"),
        _rule("KbridgeSourceDeadLetters",
              "sum by (source) (increase(kbridge_source_events_dead_lettered_total[10m])) > 0",
              "0m", "warning", "source {{ $labels.source }} dead-lettered upstream messages"),
        _rule("KbridgeDeliveryErrors",
              "sum by (target) (rate(kbridge_sink_attempts_failed_total[5m])) > 0", "10m",
              "warning", "deliveries to {{ $labels.target }} keep failing (retrying)"),
        _rule("KbridgeSinkDestinationDown", "max by (target) (kbridge_sink_destination_up) == 0",
              "5m", "critical", "the destination of {{ $labels.target }} is unreachable"),
        _rule("KbridgeRouterNoMembers",
              f'sum(kafka_consumergroup_members{{consumergroup="{ROUTER_GROUP}"}}) == 0 '
              f'or absent(kafka_consumergroup_members{{consumergroup="{ROUTER_GROUP}"}})',
              "5m", "critical", "no router is consuming: events are accepted but not routed"),
    ]


def prometheus_rule(plan: Plan) -> dict[str, Any]:
    """The rules as one PrometheusRule resource (monitoring.coreos.com/v1)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "kbridge", "labels": {"app.kubernetes.io/name": "kbridge"}},
            "spec": {"groups": [{"name": "kbridge", "rules": rules(plan)}]}}
