"""The rendered deployments run: each process group of `kbridge render` (router, sink, source),
started with exactly the args the plan renders and the settings the rendered ``kbridge-env``
ConfigMap gives (no ``--metrics-port``: ``KBRIDGE_METRICS_PORT`` alone), answers the probes the
manifests point at (``/healthz``, ``/readyz``) and serves ``/metrics`` on that port, against
the real broker. The health host is kept on loopback here (the manifests bind 0.0.0.0).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from processor.config.loader import load_configs
from processor.render import k8s
from processor.render.plan import build_plan
from tests.support.kbridge import Kbridge
from tests.support.private_kafka import free_port

pytestmark = [pytest.mark.kafka]


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_rendered_groups_answer_their_probes(
    kbridge: Kbridge, unique: str, tmp_path: Path
) -> None:
    u = unique
    text = f"""
buses: [{{name: ops-{u}, partitions: 1}}]
targets:
  - {{name: hook-{u}, kind: webhook, url: "http://127.0.0.1:9/x", allow_private_network: true}}
rules:
  - {{name: all-{u}, bus: ops-{u}, pattern: {{source: [{{prefix: ""}}]}},
     targets: [{{target: hook-{u}}}]}}
sources:
  - {{name: beat-{u}, kind: schedule, bus: ops-{u}, expression: rate(1 hour)}}
"""
    config = tmp_path / "kbridge.yaml"
    config.write_text(text)
    plan = build_plan(load_configs([config], env={}), text, "native")
    kbridge.apply(text)
    env = dict(x.split("=", 1) for x in k8s.env_literals(k8s.K8sOptions()))
    kept = {"KBRIDGE_METRICS_PORT", "KBRIDGE_KAFKA__SECURITY_PROTOCOL", "KBRIDGE_LOG_FORMAT"}
    kbridge.env.update({k: v for k, v in env.items() if k in kept})
    kbridge.env["KBRIDGE_METRICS_HOST"] = "127.0.0.1"  # loopback only on a shared machine
    ports: dict[str, int] = {}
    for group in plan.groups:
        if group.component == "gateway":
            continue  # serves the probes on its HTTP port: tests/e2e/test_health.py
        assert group.port == int(env["KBRIDGE_METRICS_PORT"])
        ports[group.name] = free_port()
        kbridge.env["KBRIDGE_METRICS_PORT"] = str(ports[group.name])
        args = list(group.args)
        if group.component == "router":
            args += ["--group-id", f"router-{u}"]  # the shared broker: not kbridge-router
        kbridge.start(*args, name=group.name)
    assert set(ports) == {"router", f"sink-hook-{u}", f"source-beat-{u}"}
    deadline = time.monotonic() + 120
    pending = dict(ports)
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            if _status(port, "/readyz") == 200:
                del pending[name]
        time.sleep(0.5)
    assert not pending, f"/readyz never 200 for {pending}\n{kbridge.logs()}"
    for port in ports.values():
        assert _status(port, "/healthz") == 200
        assert _status(port, "/metrics") == 200
