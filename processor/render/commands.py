"""``kbridge render k8s`` and ``kbridge render compose``: deployments from kbridge.yaml.

Offline: the file is read and checked like ``kbridge validate`` (a bad file exits 2 with the
problems), nothing talks to Kafka. Output goes to stdout unless ``--output-dir`` /
``--output`` names where to write it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from processor.config.commands import ENV_FILE_OPTION

if TYPE_CHECKING:
    from processor.render.plan import Plan

render_app = typer.Typer(
    help="Render deployments (Kubernetes, docker-compose) from kbridge.yaml.",
    no_args_is_help=True,
)
FILE = typer.Option(..., "-f", "--file", help="kbridge.yaml", exists=False)


ENGINE = typer.Option("faust", "--router-engine", help="faust (default) or native")


def _plan(file: Path, env_file: Path | None, engine: str) -> tuple[Plan, str]:
    from processor.config.commands import load_files
    from processor.render.plan import build_plan

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"kbridge render: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        config = load_files([file], env_file, warn=False)
    except typer.Exit:
        raise typer.Exit(2) from None
    if engine not in ("faust", "native"):
        typer.echo(f"kbridge render: --router-engine {engine!r} is not faust or native", err=True)
        raise typer.Exit(2)
    return build_plan(config, text, engine), text


@render_app.command("k8s")
def k8s(
    file: Path = FILE,
    env_file: Path | None = ENV_FILE_OPTION,
    output_dir: Path | None = typer.Option(
        None, "--output-dir", help="write a Kustomize base here instead of printing"
    ),
    namespace: str = typer.Option("kbridge", "--namespace", "-n"),
    image: str = typer.Option("kbridge:0.1.0", "--image"),
    bootstrap_servers: str = typer.Option(
        "kafka-bootstrap.kafka.svc:9092", "--bootstrap-servers", help="Kafka as pods reach it"
    ),
    kafka_auth: str = typer.Option(
        "none", "--kafka-auth",
        help="none | sasl | tls | sasl-tls: the processes' security protocol and KEDA's "
        "TriggerAuthentication (credentials from the kbridge-secrets Secret)",
    ),
    sasl_mechanism: str = typer.Option("SCRAM-SHA-512", "--sasl-mechanism"),
    router_engine: str = ENGINE,
) -> None:
    """Kubernetes manifests: one Deployment per process group, KEDA, alert rules."""
    from processor.render.k8s import (
        PROTOCOLS,
        K8sOptions,
        render_files,
        render_stream,
        stale_files,
    )
    from processor.render.keda import keda_sasl

    if kafka_auth not in PROTOCOLS:
        typer.echo(f"kbridge render: --kafka-auth {kafka_auth!r} is not one of "
                   f"{', '.join(PROTOCOLS)}", err=True)
        raise typer.Exit(2)
    try:
        keda_sasl(sasl_mechanism)
    except ValueError as exc:
        typer.echo(f"kbridge render: --sasl-mechanism: {exc}", err=True)
        raise typer.Exit(2) from None
    plan, text = _plan(file, env_file, router_engine)
    opts = K8sOptions(namespace=namespace, image=image, bootstrap_servers=bootstrap_servers,
                      kafka_auth=kafka_auth, sasl_mechanism=sasl_mechanism.upper())
    if output_dir is None:
        typer.echo(render_stream(plan, opts, text), nl=False)
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    files = render_files(plan, opts, text)
    for name, content in files.items():
        (output_dir / name).write_text(content, encoding="utf-8")
    for name in stale_files(output_dir, files):  # e.g. sources.yaml after the last source went
        (output_dir / name).unlink()
        typer.echo(f"removed {output_dir / name} (nothing to render into it any more)", err=True)
    typer.echo(f"wrote a Kustomize base to {output_dir} (kubectl apply -k {output_dir})", err=True)


@render_app.command("compose")
def compose(
    file: Path = FILE,
    env_file: Path | None = ENV_FILE_OPTION,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="write docker-compose.yml here instead of printing"
    ),
    config_path: str | None = typer.Option(
        None, "--config-path",
        help="kbridge.yaml as the compose file reaches it (default: -f, relative to the output)",
    ),
    prometheus: Path | None = typer.Option(
        None, "--prometheus",
        help="also write the Prometheus configuration scraping every service to this file",
    ),
    router_engine: str = ENGINE,
) -> None:
    """docker-compose.yml: the same process groups plus Kafka, MySQL, Prometheus, Grafana."""
    import os

    from processor.render.compose import prometheus_config, render

    plan, _ = _plan(file, env_file, router_engine)
    if config_path is None:
        base = output.resolve().parent if output else Path.cwd()
        config_path = "./" + os.path.relpath(file.resolve(), base)
    text = render(plan, config_path)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    if prometheus is not None:
        prometheus.write_text(prometheus_config(plan), encoding="utf-8")


def register(app: typer.Typer) -> None:
    """Attach ``kbridge render``."""
    app.add_typer(render_app, name="render")
