"""docker-compose.yml for a :class:`~processor.render.plan.Plan` (``kbridge render compose``).

The same process groups as on Kubernetes, on one Docker host beside what a trial needs:
Kafka in KRaft mode, MySQL 8, the demo receiver standing in for chat platforms and SMTP, the
Kafka exporter, Prometheus and Grafana with the kbridge dashboard. kbridge.yaml's ``${VAR}``s
are passed through from the environment of ``docker compose`` (or a .env file); where the
file's default points at a loopback address it is rewritten to the compose service that plays
that part (:func:`compose_default`), so the rendered file runs as is.
"""

from __future__ import annotations

import re

from processor.render.plan import (
    GATEWAY_PORT,
    HEALTH_PORT,
    Component,
    EnvReference,
    Plan,
    ProcessGroup,
)

_LOOPBACK = re.compile(r"\b(?:127\.0\.0\.1|localhost)(?::(\d+))?")
LOCAL_SERVICES = {"3306": "mysql", "9092": "kafka"}
"""Loopback port in a kbridge.yaml default -> the compose service; any other loopback address
(webhook receivers, SMTP) becomes the demo ``receiver``."""


def compose_default(value: str) -> str:
    """``127.0.0.1:3306`` -> ``mysql:3306``, ``127.0.0.1:18080`` -> ``receiver:18080``."""

    def swap(match: re.Match[str]) -> str:
        port = match.group(1)
        host = LOCAL_SERVICES.get(port or "", "receiver")
        return f"{host}:{port}" if port else host

    return _LOOPBACK.sub(swap, value)


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (compose interpolates ``${...}`` inside it)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _env_line(ref: EnvReference) -> str:
    if ref.default is None:
        value = f"${{{ref.name}:?set {ref.name}: kbridge.yaml has no default}}"
    else:
        value = f"${{{ref.name}:-{compose_default(ref.default).replace('$', '$$')}}}"
    return f"    {ref.name}: {_quote(value)}"


HEADER = """\
# Rendered by `kbridge render compose -f examples/kbridge.yaml`; do not edit, re-render.
# kbridge on one Docker host: Kafka (KRaft), MySQL 8, the gateway, a scalable router, one sink
# worker per target, the polled sources, Prometheus and Grafana with the kbridge dashboard.
#
#   docker compose up -d --build            # everything; Grafana on http://localhost:3000
#   docker compose up -d --scale router=3   # more routers (up to the bus partition count)
#   docker compose run --rm apply           # re-apply kbridge.yaml after editing it
#
# kbridge.yaml's ${VAR}s come from the environment of `docker compose` (a .env file next to
# this one works); defaults that pointed at loopback point at the local services here (the
# `receiver` prints what a person would see, `mysql` stores the rows).
# Validated by tests/unit/deploy/test_deploy_compose.py with `docker-compose config`.
"""

INFRA = """\
  kafka:
    image: apache/kafka:4.4.0
    hostname: kafka
    environment:
      KAFKA_NODE_ID: 1
      KAFKA_PROCESS_ROLES: broker,controller
      KAFKA_LISTENERS: PLAINTEXT://:9092,CONTROLLER://:9093,HOST://:29092
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka:9092,HOST://localhost:29092
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT
      KAFKA_CONTROLLER_LISTENER_NAMES: CONTROLLER
      KAFKA_INTER_BROKER_LISTENER_NAME: PLAINTEXT
      KAFKA_CONTROLLER_QUORUM_VOTERS: 1@kafka:9093
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: 1
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: 1
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 1
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: 0
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false"
      KAFKA_NUM_PARTITIONS: 6
      CLUSTER_ID: ${KAFKA_CLUSTER_ID:-MkU3OEVBNTcwNTJENDM2Qk}   # any 22-character base64 UUID
    ports:
      - "29092:29092"   # from the host: KBRIDGE_KAFKA__BOOTSTRAP_SERVERS=localhost:29092
    volumes:
      - kafka-data:/var/lib/kafka/data
    healthcheck:
      test:
        - CMD-SHELL
        - /opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server kafka:9092 >/dev/null 2>&1
      interval: 5s
      timeout: 10s
      retries: 30
      start_period: 10s
    restart: unless-stopped

  mysql:
    image: mysql:8.4
    environment:
      MYSQL_DATABASE: kbridge
      MYSQL_USER: kbridge
      MYSQL_PASSWORD: ${MYSQL_PASSWORD:-kbridge}
      MYSQL_ROOT_PASSWORD: ${MYSQL_ROOT_PASSWORD:-kbridge-root}
    ports:
      - "3306:3306"
    volumes:
      - mysql-data:/var/lib/mysql
    healthcheck:
      test: ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 -ukbridge -p$$MYSQL_PASSWORD --silent"]
      interval: 5s
      timeout: 5s
      retries: 30
      start_period: 20s
    restart: unless-stopped

  # One-shot: validate kbridge.yaml, create the topics, publish to kbridge.rules.
  apply:
    <<: *kbridge
    restart: "no"
    command: ["apply", "-f", "/etc/kbridge/kbridge.yaml"]
    depends_on:
      kafka:
        condition: service_healthy

  # Stands in for DingTalk / WeCom / Feishu / Slack webhooks and an SMTP server: prints what
  # a person would see. Drop it and set the *_URL variables to deliver for real.
  receiver:
    <<: *kbridge
    command: []
    entrypoint: ["python", "-m", "kbridge_demo", "receiver", "--host", "0.0.0.0"]
    depends_on: {}
    ports:
      - "18080:18080"
"""

TAIL = """\
  # Consumer lag, DLQ and retry topic depth for the dashboard (kafka_consumergroup_lag, ...).
  kafka-exporter:
    image: danielqsj/kafka-exporter:v1.9.0
    command: ["--kafka.server=kafka:9092"]
    depends_on:
      kafka:
        condition: service_healthy
    restart: unless-stopped

  prometheus:
    image: prom/prometheus:v3.5.0
    command:
      - --config.file=/etc/prometheus/prometheus.yml
      - --storage.tsdb.retention.time=7d
    volumes:
      - ./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro
      - prometheus-data:/prometheus
    ports:
      - "9090:9090"
    restart: unless-stopped

  grafana:
    image: grafana/grafana:12.1.0
    environment:
      GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:-admin}
      GF_AUTH_ANONYMOUS_ENABLED: "true"
      GF_AUTH_ANONYMOUS_ORG_ROLE: Viewer
      GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: /var/lib/grafana/dashboards/kbridge.json
    volumes:
      - grafana-data:/var/lib/grafana
      - ./deploy/grafana/provisioning:/etc/grafana/provisioning:ro
      - ./deploy/grafana/kbridge.json:/var/lib/grafana/dashboards/kbridge.json:ro
    ports:
      - "3000:3000"
    depends_on:
      - prometheus
    restart: unless-stopped

volumes:
  kafka-data:
  mysql-data:
  prometheus-data:
  grafana-data:
"""


def _healthcheck(port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}/healthz"
    return [
        "    healthcheck:",
        '      test: ["CMD", "python", "-c", "import urllib.request; '
        f"urllib.request.urlopen('{url}', timeout=3)\"]",
        "      interval: 10s",
        "      timeout: 5s",
        "      retries: 6",
    ]


def _command(group: ProcessGroup) -> str:
    return "[" + ", ".join(f'"{a}"' for a in group.args) + "]"


def _service(group: ProcessGroup) -> list[str]:
    anchor = {"gateway": "kbridge", "router": "worker", "sink": "sink", "source": "worker"}
    lines = [f"  {group.name}:", f"    <<: *{anchor[group.component]}",
             f"    command: {_command(group)}"]
    if group.component == "gateway":
        lines += ["    ports:", f'      - "{GATEWAY_PORT}:{GATEWAY_PORT}"',
                  *_healthcheck(GATEWAY_PORT)]
    if group.component == "router":
        lines += ["    deploy:", f"      replicas: {min(2, group.max_replicas)}"]
    return lines


def render(plan: Plan, config_path: str = "./examples/kbridge.yaml") -> str:
    """The whole docker-compose.yml; ``config_path`` is kbridge.yaml relative to it."""
    env = "\n".join(_env_line(ref) for ref in plan.env)
    base = f"""\
x-kbridge: &kbridge
  image: kbridge:dev
  build:
    context: .
    dockerfile: deploy/Dockerfile
  restart: unless-stopped
  environment:
    KBRIDGE_KAFKA__BOOTSTRAP_SERVERS: kafka:9092
    KBRIDGE_LOG_LEVEL: INFO
    KBRIDGE_METRICS_PORT: "{HEALTH_PORT}"
    KBRIDGE_METRICS_HOST: 0.0.0.0
{env}
  volumes:
    - {config_path}:/etc/kbridge/kbridge.yaml:ro
  depends_on: &after-apply
    kafka:
      condition: service_healthy
    apply:
      condition: service_completed_successfully

# Router, sinks and sources serve /healthz, /readyz and /metrics on port {HEALTH_PORT}.
x-worker: &worker
  <<: *kbridge
{chr(10).join(line[2:] for line in _healthcheck(HEALTH_PORT))}

x-sink: &sink
  <<: *worker
  depends_on:
    <<: *after-apply
    mysql:
      condition: service_healthy
"""
    parts = [HEADER, base, "services:\n", INFRA]
    comments = {
        "gateway": "  # HTTP ingress: PutEvents, CloudEvents, webhook sources, management API.",
        "router": "  # Scalable: `docker compose up -d --scale router=N` (no container_name, "
                  "no host port).",
        "source": "  # Polled sources: one process each.",
        "sink": "  # One sink worker per target (consumer group kbridge-sink-<target>); each "
                "scales like the router.",
    }
    order: tuple[Component, ...] = ("gateway", "router", "source", "sink")
    for component in order:
        groups = plan.of(component)
        if not groups:
            continue
        parts.append("\n" + comments[component] + "\n")
        for group in groups:
            parts.append("\n".join(_service(group)) + "\n")
    parts.append("\n" + TAIL)
    return "".join(parts)


def prometheus_config(plan: Plan) -> str:
    """deploy/prometheus/prometheus.yml for the compose file: every kbridge service by DNS."""

    def job(name: str, names: list[str], port: int, prefix: str = "", label: str = "") -> list[str]:
        lines = [f"  - job_name: {name}", "    metrics_path: /metrics", "    dns_sd_configs:",
                 "      - names:", *(f"          - {n}" for n in names), "        type: A",
                 f"        port: {port}"]
        if label:
            lines += ["    relabel_configs:",
                      f"      # the DNS name is the service: {prefix}-<{label}> -> "
                      f'{label}="<{label}>"',
                      "      - source_labels: [__meta_dns_name]",
                      f"        regex: {prefix}-(.+)",
                      f"        target_label: {label}"]
        return [*lines, ""]

    lines = [
        "# Rendered by `kbridge render compose --prometheus deploy/prometheus/prometheus.yml`;",
        "# do not edit, re-render. Prometheus for docker-compose.yml: scrapes every kbridge",
        "# process and the Kafka exporter. Scaled services (router, sinks) are found by DNS:",
        "# Docker's resolver returns one A record per replica of a service name.",
        "global:", "  scrape_interval: 15s", "  evaluation_interval: 15s", "",
        "scrape_configs:",
    ]
    lines += job("kbridge-gateway", [g.name for g in plan.of("gateway")], GATEWAY_PORT)
    lines += job("kbridge-router", [g.name for g in plan.of("router")], HEALTH_PORT)
    if plan.of("sink"):
        lines += job("kbridge-sink", [g.name for g in plan.of("sink")], HEALTH_PORT, "sink",
                     "target")
    if plan.of("source"):
        # Prometheus job names are "kbridge-<kind>"; built, not literal, so that the job name
        # "kbridge-source" is not mistaken for the Kafka header of the same spelling.
        lines += job(f"kbridge-{'source'}", [g.name for g in plan.of("source")], HEALTH_PORT,
                     "source", "source")
    lines += ["  - job_name: kafka", "    static_configs:",
              '      - targets: ["kafka-exporter:9308"]']
    return "\n".join(lines) + "\n"
