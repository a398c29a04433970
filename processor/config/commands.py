"""``kbridge validate``, ``kbridge apply``, ``kbridge get`` and ``kbridge schema``.

Bad input never shows a traceback: configuration problems are printed one per line
(``file: object.field: message``) and Kafka failures as one ``error:`` line, exit status 1.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from processor.config.model import KIND_OF_SECTION, SECTIONS, KbridgeConfig, ObjectKind
from processor.config.problems import ConfigValidationError
from processor.errors import KbridgeError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import RULES_TOPIC

FILE_OPTION = typer.Option(
    [Path("kbridge.yaml")],
    "--file",
    "-f",
    help="A configuration file or a directory of them; repeat to merge several.",
    show_default=True,
)
ENV_FILE_OPTION = typer.Option(
    None,
    "--env-file",
    help="KEY=value lines for ${VAR} references (they take precedence over the environment).",
)
BOOTSTRAP_OPTION = typer.Option(
    None,
    "--bootstrap-servers",
    "-b",
    help="Kafka bootstrap servers (default: KBRIDGE_KAFKA__BOOTSTRAP_SERVERS or 127.0.0.1:9092).",
)
RULES_TOPIC_OPTION = typer.Option(
    None,
    "--rules-topic",
    help=f"The config store topic (default: KBRIDGE_RULES_TOPIC or {RULES_TOPIC}).",
)
TIMEOUT_OPTION = typer.Option(30.0, "--timeout", help="Seconds to wait for Kafka.")


def _fail(lines: list[str]) -> typer.Exit:
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(1)


def environment(env_file: Path | None) -> dict[str, str]:
    """The process environment, overlaid with ``env_file``'s variables (exit 1 naming the
    file and line when it has a bad line)."""
    env = dict(os.environ)
    if env_file is not None:
        from processor.config.envsubst import read_env_file

        values, problems = read_env_file(os.fspath(env_file))
        if problems:
            raise _fail([problem.render(os.fspath(env_file)) for problem in problems])
        env.update(values)
    return env


def load_files(
    files: list[Path], env_file: Path | None = None, *, warn: bool = True
) -> KbridgeConfig:
    """The merged configuration of ``files`` (or exit 1 listing every problem)."""
    from processor.config.loader import load_configs
    from processor.config.targets import private_name_warnings

    try:
        config = load_configs(files, env=environment(env_file))
    except ConfigValidationError as exc:
        raise _fail(exc.lines) from None
    label = ", ".join(map(str, files))
    if warn:
        for line in private_name_warnings(config.targets):  # names resolving privately (SSRF)
            typer.echo(f"{label}: warning: {line}", err=True)
    return config


@dataclass(frozen=True)
class _Target:
    """Where the commands talk to: the cluster, the config topic, the replication factor."""

    kafka: KafkaClientConfig
    rules_topic: str
    replication_factor: int | None


def _connect(bootstrap_servers: str | None, rules_topic: str | None) -> _Target:
    from processor.settings import load_settings

    settings = load_settings()
    kafka = settings.kafka
    if bootstrap_servers:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
    return _Target(kafka, rules_topic or settings.rules_topic, settings.replication_factor)


def _summary(config: KbridgeConfig) -> str:
    counts = config.counts()
    return ", ".join(f"{count} {section}" for section, count in counts.items())


def validate(file: list[Path] = FILE_OPTION, env_file: Path | None = ENV_FILE_OPTION) -> None:
    """Check configuration files offline.

    Checks the syntax, every field, references between objects, patterns and transforms;
    lists every problem (file:line:column) and exits 1, or prints a summary.
    """
    config = load_files(file, env_file)
    typer.echo(f"{', '.join(map(str, file))}: valid ({_summary(config)})")
    for bus in config.buses:
        rules = config.rules_for_bus(bus.name, enabled_only=False)
        typer.echo(f"  bus {bus.name}: {len(rules)} rule(s)")


def apply(
    file: list[Path] = FILE_OPTION,
    env_file: Path | None = ENV_FILE_OPTION,
    prune: bool = typer.Option(False, "--prune", help="Delete live objects missing from FILE."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    create_topics: bool = typer.Option(
        True, "--create-topics/--no-create-topics", help="Create bus and target topics."
    ),
    bootstrap_servers: str | None = BOOTSTRAP_OPTION,
    rules_topic: str | None = RULES_TOPIC_OPTION,
    timeout: float = TIMEOUT_OPTION,
) -> None:
    """Validate a configuration file and publish it to the live configuration.

    Publishes one record per changed object to the compacted kbridge.rules topic and creates
    the bus and target topics; routers, sinks and the gateway pick the change up live.
    """
    from confluent_kafka import KafkaException

    from processor.config.provision import ensure_config_topics
    from processor.config.publish import publish_config
    from processor.config.store import describe_kafka_error

    config = load_files(file, env_file)
    where = _connect(bootstrap_servers, rules_topic)
    try:
        # Topics first: a router that sees a new rule can produce to its targets at once.
        created_topics: list[str] = []
        if create_topics and not dry_run:
            created_topics = ensure_config_topics(
                where.kafka,
                config,
                replication_factor=where.replication_factor,
                timeout=timeout,
            )
        plan = publish_config(
            where.kafka,
            config,
            prune=prune,
            dry_run=dry_run,
            topic=where.rules_topic,
            timeout=timeout,
        )
    except KbridgeError as exc:
        raise _fail([f"error: {exc}"]) from None
    except KafkaException as exc:
        reason = describe_kafka_error(exc)
        raise _fail([f"error: Kafka at {where.kafka.bootstrap_servers}: {reason}"]) from None
    for marks, entries, verb in (
        ("+", plan.created, "created"),
        ("~", plan.updated, "updated"),
        ("-", plan.deleted, "deleted"),
    ):
        for kind, name in entries:
            typer.echo(f"{marks} {kind}/{name} {verb}")
    typer.echo(
        f"{len(plan.created)} created, {len(plan.updated)} updated, "
        f"{len(plan.deleted)} deleted, {len(plan.unchanged)} unchanged"
    )
    if dry_run:
        typer.echo("dry run: nothing was published")
        return
    for topic in created_topics:
        typer.echo(f"created topic {topic}")


def get(
    what: str = typer.Argument(..., help="buses | rules | targets | connections | sources"),
    name: str | None = typer.Argument(None, help="Show only the object with this name."),
    output: str = typer.Option("table", "--output", "-o", help="table | json | yaml"),
    bootstrap_servers: str | None = BOOTSTRAP_OPTION,
    rules_topic: str | None = RULES_TOPIC_OPTION,
    timeout: float = TIMEOUT_OPTION,
) -> None:
    """List the live objects of one kind, or show one (secrets masked)."""
    from confluent_kafka import KafkaException

    from processor.config.store import describe_kafka_error, read_live_config

    kind = _kind(what)
    if output not in ("table", "json", "yaml"):
        raise _fail([f"error: unknown output format {output!r} (table, json or yaml)"])
    where = _connect(bootstrap_servers, rules_topic)
    try:
        live = read_live_config(
            where.kafka, topic=where.rules_topic, timeout=timeout, create_topic=False
        )
    except KbridgeError as exc:
        raise _fail([f"error: {exc}"]) from None
    except KafkaException as exc:
        reason = describe_kafka_error(exc)
        raise _fail([f"error: Kafka at {where.kafka.bootstrap_servers}: {reason}"]) from None
    objects = [obj for obj in live.section(kind) if name is None or obj.name == name]
    if name is not None and not objects:
        raise _fail([f"error: {kind} {name!r} is not live"])
    if output == "table":
        from processor.config.tables import render_table

        render_table(kind, live, name=name)
        return
    data: dict[str, Any] = {SECTIONS[kind]: [obj.model_dump(mode="json") for obj in objects]}
    if output == "json":
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def _kind(what: str) -> ObjectKind:
    word = what.lower()
    if word in KIND_OF_SECTION:
        return KIND_OF_SECTION[word]
    for kind in SECTIONS:
        if word == kind:
            return kind
    raise _fail([f"error: cannot list {what!r}: use one of {', '.join(SECTIONS.values())}"])


def schema(
    output: str = typer.Option("json", "--output", "-o", help="json | yaml"),
    write: Path | None = typer.Option(
        None, "--write", "-w", help="Write to this file instead of standard output."
    ),
) -> None:
    """Print (or write) the JSON Schema of kbridge.yaml, for editors."""
    from processor.config.schema import config_json_schema, render_schema

    if output not in ("json", "yaml"):
        raise _fail([f"error: unknown output format {output!r} (json or yaml)"])
    if output == "json":
        text = render_schema()
    else:
        import yaml

        text = yaml.safe_dump(config_json_schema(), sort_keys=False, allow_unicode=True)
    if write is None:
        typer.echo(text, nl=False)
    else:
        write.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {write}")


def explain(
    path: str = typer.Argument(
        "", help="section[.kind][.field], e.g. targets.webhook.method or rules.targets.retry"
    ),
) -> None:
    """Describe a kbridge.yaml object or field: its fields, choices, default and examples."""
    from processor.config.explain import explain as lines_for

    try:
        lines = lines_for(path)
    except KbridgeError as exc:
        raise _fail([f"error: {exc}"]) from None
    for line in lines:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Attach the configuration commands to the ``kbridge`` app."""
    app.command("validate")(validate)
    app.command("apply")(apply)
    app.command("get")(get)
    app.command("schema")(schema)
    app.command("explain")(explain)
