"""``kbridge render k8s|compose``: the checked-in deploy/k8s and docker-compose.yml are the
rendered output of examples/kbridge.yaml, and what the renderers produce is well formed
(probes on the endpoints every process serves, budgets, KEDA with credentials for a secured
cluster, alert rules on metrics that exist)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_helpers import EXAMPLE, ROOT, example_targets, optional_tool, require_tool
from test_deploy_grafana import KAFKA_EXPORTER, kbridge_series
from typer.testing import CliRunner

from processor.cli import build_app
from processor.config.loader import load_configs
from processor.render import alerts, k8s
from processor.render.compose import compose_default, render
from processor.render.plan import build_plan, env_references

runner = CliRunner()
# danielqsj/kafka-exporter also exports members per group (kafka_exporter.go:
# "kafka_consumergroup_members", label consumergroup)
KNOWN = {**kbridge_series(), **KAFKA_EXPORTER,
         "kafka_consumergroup_members": {"consumergroup"}}


def _cli(*args: str) -> str:
    result = runner.invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _plan() -> Any:
    return build_plan(load_configs([EXAMPLE], env={}), EXAMPLE.read_text())


def test_checked_in_k8s_is_the_rendered_example(tmp_path: Path) -> None:
    _cli("render", "k8s", "-f", str(EXAMPLE), "--output-dir", str(tmp_path))
    rendered = {p.name: p.read_text() for p in tmp_path.iterdir()}
    checked_in = {p.name: p.read_text() for p in (ROOT / "deploy" / "k8s").iterdir()}
    assert sorted(rendered) == sorted(checked_in)
    for name, text in rendered.items():
        assert checked_in[name] == text, (
            f"deploy/k8s/{name} is stale: kbridge render k8s -f examples/kbridge.yaml "
            "--output-dir deploy/k8s"
        )


def test_checked_in_compose_is_the_rendered_example(tmp_path: Path) -> None:
    prometheus = tmp_path / "prometheus.yml"
    text = _cli("render", "compose", "-f", str(EXAMPLE), "--config-path",
                "./examples/kbridge.yaml", "--prometheus", str(prometheus))
    hint = ("is stale: kbridge render compose -f examples/kbridge.yaml -o docker-compose.yml "
            "--prometheus deploy/prometheus/prometheus.yml")
    assert (ROOT / "docker-compose.yml").read_text() == text, f"docker-compose.yml {hint}"
    assert (ROOT / "deploy/prometheus/prometheus.yml").read_text() == prometheus.read_text(), (
        f"deploy/prometheus/prometheus.yml {hint}"
    )


def test_stdout_stream_is_every_resource_in_the_namespace() -> None:
    docs = [d for d in yaml.safe_load_all(_cli("render", "k8s", "-f", str(EXAMPLE))) if d]
    assert docs[0]["kind"] == "Namespace"  # first, so `kubectl apply -f -` can create the rest
    kinds = [d["kind"] for d in docs]
    assert kinds.count("ConfigMap") == 2 and "PrometheusRule" in kinds
    for doc in docs[1:]:
        assert doc["metadata"]["namespace"] == "kbridge", doc["metadata"]["name"]
    config = next(d for d in docs if d["metadata"]["name"] == "kbridge-config")
    assert config["data"]["kbridge.yaml"] == EXAMPLE.read_text()


def test_probes_budgets_and_requests_on_every_deployment() -> None:
    plan = _plan()
    opts = k8s.K8sOptions()
    docs = k8s.documents(plan, opts)
    deployments = [d for ds in docs.values() for d in ds if d["kind"] == "Deployment"]
    assert len(deployments) == 2 + len(example_targets()) + 1  # gateway, router, sinks, source
    budgets = {d["metadata"]["name"] for ds in docs.values() for d in ds
               if d["kind"] == "PodDisruptionBudget"}
    for dep in deployments:
        name = dep["metadata"]["name"]
        assert name in budgets
        [c] = dep["spec"]["template"]["spec"]["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        port = c["ports"][0]["containerPort"]
        assert port == (8080 if name == "kbridge-gateway" else 9100), name
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
    env = dict(x.split("=", 1) for x in k8s.env_literals(opts))
    # probes reach the pod address: the health port must not bind loopback only
    assert env["KBRIDGE_METRICS_PORT"] == "9100" and env["KBRIDGE_METRICS_HOST"] == "0.0.0.0"
    assert "KBRIDGE_MIN_INSYNC_REPLICAS" not in env  # read by nothing (issue 17)


@pytest.mark.parametrize("auth", ["sasl", "tls", "sasl-tls"])
def test_secured_cluster_gets_a_trigger_authentication(auth: str) -> None:
    opts = k8s.K8sOptions(kafka_auth=auth, sasl_mechanism="SCRAM-SHA-256")
    docs = k8s.documents(_plan(), opts)
    [trigger_auth] = [d for d in docs["keda.yaml"] if d["kind"] == "TriggerAuthentication"]
    params = {r["parameter"]: r for r in trigger_auth["spec"]["secretTargetRef"]}
    # https://keda.sh/docs/latest/scalers/apache-kafka/ : username/password/ca are
    # authentication parameters, sasl (plaintext|scram_sha256|scram_sha512|...) and
    # tls (enable|disable) may be given in the trigger's metadata
    expected = ({"username", "password"} if "sasl" in auth else set()) | (
        {"ca"} if "tls" in auth else set())
    assert set(params) == expected
    assert {r["name"] for r in params.values()} == {k8s.SECRET}
    for so in (d for d in docs["keda.yaml"] if d["kind"] == "ScaledObject"):
        [trigger] = so["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": "kbridge-kafka"}
        assert trigger["metadata"].get("sasl") == ("scram_sha256" if "sasl" in auth else None)
        assert trigger["metadata"].get("tls") == ("enable" if "tls" in auth else None)
    env = dict(x.split("=", 1) for x in k8s.env_literals(opts))
    assert env["KBRIDGE_KAFKA__SECURITY_PROTOCOL"] == k8s.PROTOCOLS[auth]
    for dep in (d for ds in docs.values() for d in ds if d["kind"] == "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        names = {e["name"] for e in pod["containers"][0]["env"]}
        assert ("KBRIDGE_KAFKA__SASL_PASSWORD" in names) == ("sasl" in auth)
        assert any(v["name"] == "kafka-ca" for v in pod["volumes"]) == ("tls" in auth)
        for doc in (dep, *(d for d in docs["gateway.yaml"] if d["kind"] == "Service")):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_bad_options_and_files_exit_2_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["render", "k8s", "-f", str(EXAMPLE),
                                         "--kafka-auth", "kerberos"])
    assert result.exit_code == 2 and "--kafka-auth 'kerberos'" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - name: x\n    kind: nope\n")
    result = runner.invoke(build_app(), ["render", "compose", "-f", str(bad)])
    assert result.exit_code == 2 and "bad.yaml" in result.output
    assert "Traceback" not in result.output


def test_alert_rules_use_metrics_that_exist() -> None:
    rule = alerts.prometheus_rule(_plan())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    [group] = rule["spec"]["groups"]
    names = {r["alert"] for r in group["rules"]}
    assert {"KbridgeConsumerLagGrowing", "KbridgeSinkDeadLetters", "KbridgeDeliveryErrors",
            "KbridgeRouterNoMembers"} <= names
    for r in group["rules"]:
        used = re.findall(r"\b((?:kbridge|kafka)_\w+)\s*(\{[^}]*\})?", r["expr"])
        assert used, r["alert"]
        for name, selector in used:
            assert name in KNOWN, f"{r['alert']}: {name} is exported by nothing"
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            assert labels <= KNOWN[name], f"{r['alert']}: {name} has no label {labels}"
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", r["expr"]):
            wanted = {g.strip() for g in grouping.split(",")}
            assert any(wanted <= KNOWN[n] for n, _ in used), f"{r['alert']}: by ({grouping})"
    lag = next(r for r in group["rules"] if r["alert"] == "KbridgeConsumerLagGrowing")
    for target in example_targets():
        assert f"kbridge-sink-{target}" in lag["expr"]


def test_env_references_skip_comments_and_escapes() -> None:
    text = "# ${IN_A_COMMENT}\na: ${A}\nb: x${B:-d}y $${NOT_ONE}\nc: ['${A:-other}']\n"
    refs = env_references(text)
    assert [(r.name, r.default) for r in refs] == [("A", None), ("B", "d")]
    assert refs[1].secret_key == "b"


def test_compose_defaults_point_at_the_compose_services() -> None:
    assert compose_default("mysql+pymysql://u:p@127.0.0.1:3306/db") == "mysql+pymysql://u:p@mysql:3306/db"
    assert compose_default("127.0.0.1:9092") == "kafka:9092"
    assert compose_default("http://127.0.0.1:18080/x") == "http://receiver:18080/x"
    assert compose_default("127.0.0.1") == "receiver"
    assert compose_default("smtp.example.com") == "smtp.example.com"
    text = render(_plan())
    assert "127.0.0.1:3306" not in text


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def test_kustomize_builds_the_base_into_what_stdout_prints() -> None:
    """`kubectl kustomize deploy/k8s` (offline) gives the resources `render k8s` prints, but
    for the hash suffix kustomize puts on generated ConfigMap names."""
    exe = optional_tool("kubectl", "its built-in kustomize builds deploy/k8s")
    proc = subprocess.run([exe, "kustomize", str(ROOT / "deploy" / "k8s")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    unhash = re.compile(r"\b(kbridge-(?:config|env))-[a-z0-9]{10}\b")
    built = {_key(d): d for d in yaml.safe_load_all(unhash.sub(r"\1", proc.stdout)) if d}
    printed = {_key(d): d for d in yaml.safe_load_all(_cli("render", "k8s", "-f", str(EXAMPLE)))
               if d}
    assert sorted(built) == sorted(printed)
    for key, doc in printed.items():
        assert built[key] == doc, key
    for doc in printed.values():
        if not doc["apiVersion"].startswith(("keda.sh/", "monitoring.coreos.com/")):
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


OTHER = """\
buses:
  - {name: iot, partitions: 12}
  - {name: saas}
sources:
  - {name: plant, kind: mqtt, bus: iot, url: "mqtt://${MQTT_HOST}:1883", topics: [t/#]}
  - {name: tick, kind: schedule, bus: saas, expression: rate(5 minutes)}
  - {name: gh, kind: github, bus: saas, secret: "${GH_SECRET:-x}"}
targets:
  - {name: hook, kind: webhook, url: "https://example.com/h", partitions: 12}
rules:
  - {name: r, bus: iot, pattern: {source: [a]}, targets: [{target: hook}]}
"""


def test_plan_of_another_config(tmp_path: Path) -> None:
    """Webhook sources ride on the gateway, polled ones get a process; replicas follow
    partitions; a ${VAR} without default is a required Secret key / compose variable."""
    config = tmp_path / "kbridge.yaml"
    config.write_text(OTHER)
    plan = build_plan(load_configs([config], env={"MQTT_HOST": "m"}), OTHER, "native")
    groups = {g.name: g for g in plan.groups}
    assert set(groups) == {"gateway", "router", "sink-hook", "source-plant", "source-tick"}
    assert groups["router"].args == ("router", "--engine", "native")
    assert groups["router"].max_replicas == 12 and groups["sink-hook"].max_replicas == 12
    assert not groups["source-plant"].scales_on_lag
    assert [(r.name, r.default) for r in plan.env] == [("MQTT_HOST", None), ("GH_SECRET", "x")]
    docs = k8s.documents(plan, k8s.K8sOptions())
    [source] = [d for d in docs["sources.yaml"]
                if d["kind"] == "Deployment" and d["metadata"]["name"] == "kbridge-source-plant"]
    assert source["spec"]["replicas"] == 1
    env = {e["name"]: e for e in source["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MQTT_HOST"]["valueFrom"]["secretKeyRef"] == {
        "name": "kbridge-secrets", "key": "mqtt-host", "optional": False}
    assert env["GH_SECRET"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "--from-literal=mqtt-host=..." in k8s.render_files(plan, k8s.K8sOptions(), OTHER)[
        "kustomization.yaml"]


def test_compose_of_another_config_resolves(tmp_path: Path) -> None:
    config = tmp_path / "kbridge.yaml"
    config.write_text(OTHER)
    out = tmp_path / "docker-compose.yml"
    result = runner.invoke(build_app(), ["render", "compose", "-f", str(config), "-o", str(out),
                                         "--env-file", str(_env_file(tmp_path))])
    assert result.exit_code == 0, result.output
    exe = require_tool("docker-compose", "apt-get install -y docker-compose")
    env = {"PATH": os.environ["PATH"], "MQTT_HOST": "broker"}
    proc = subprocess.run([exe, "-f", str(out), "config"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert services["source-plant"]["environment"]["MQTT_HOST"] == "broker"
    assert services["source-tick"]["command"] == ["source", "tick"]
    assert services["sink-hook"]["healthcheck"]["test"][-1].endswith(
        "urlopen('http://127.0.0.1:9100/healthz', timeout=3)")
    assert "./kbridge.yaml:/etc/kbridge/kbridge.yaml:ro" in out.read_text()
    # without the variable compose refuses, naming it (kbridge.yaml has no default)
    del env["MQTT_HOST"]
    proc = subprocess.run([exe, "-f", str(out), "config"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert proc.returncode != 0 and "MQTT_HOST" in proc.stderr


def _env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env.render"
    path.write_text("MQTT_HOST=m\n")
    return path


def test_output_dir_removes_what_an_earlier_render_wrote_and_no_longer_needs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "base"
    _cli("render", "k8s", "-f", str(EXAMPLE), "--output-dir", str(out))
    assert (out / "sources.yaml").exists()
    mine = out / "notes.yaml"
    mine.write_text("# someone else's\n")
    without_sources = tmp_path / "kbridge.yaml"
    data = yaml.safe_load(EXAMPLE.read_text())
    data["sources"] = [s for s in data["sources"] if s["kind"] != "kafka"]
    without_sources.write_text(yaml.safe_dump(data))
    _cli("render", "k8s", "-f", str(without_sources), "--output-dir", str(out))
    assert not (out / "sources.yaml").exists()
    assert "sources.yaml" not in (out / "kustomization.yaml").read_text()
    assert mine.exists()
    kubectl = optional_tool("kubectl", "its built-in kustomize builds the output dir")
    build = subprocess.run(
        [kubectl, "kustomize", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert build.returncode == 0, build.stderr
