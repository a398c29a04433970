"""Generate the kbridge.yaml reference in docs/configuration.md from the pydantic models.

    python scripts/gen_docs.py           # rewrite the generated part of docs/configuration.md
    python scripts/gen_docs.py --check   # exit 1 when the committed page is stale

Only the text between the ``BEGIN GENERATED`` and ``END GENERATED`` markers is generated;
the hand-written introduction above them is kept as it is. Types, defaults and
constraints come from the models (``processor/config/``); a field's description is the
string literal under it in the model's class body (an attribute docstring), else its
entry in :data:`FIELD_DOCS` below. A field with neither is an error, so a new field cannot
be added without documenting it (``tests/unit/docs/test_configuration_page.py`` runs ``--check``).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python scripts/gen_docs.py` from a checkout
    sys.path.insert(0, str(ROOT))

from processor.config import connections as conn_models  # noqa: E402
from processor.config import sources as source_models  # noqa: E402
from processor.config import targets as target_models  # noqa: E402
from processor.config.buses import Bus  # noqa: E402
from processor.config.durations import format_duration  # noqa: E402
from processor.config.model import KbridgeConfig  # noqa: E402
from processor.config.rules import RetryPolicy, Rule, RuleTarget  # noqa: E402
from processor.kafka.config import KafkaClientConfig  # noqa: E402

PAGE = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED: python scripts/gen_docs.py (do not edit below) -->"
END = "<!-- END GENERATED -->"

# Validators whose function names say what a string really is.
VALIDATOR_TYPES: dict[str, str] = {
    "_check_object_name": "name",
    "parse_duration": "duration",
    "_http_url": "http(s) URL",
    "_sqlalchemy_url": "SQLAlchemy URL",
    "_email_address": "email address",
    "_check_timezone": "IANA time zone",
    "_check_network": "IP or CIDR",
    "_check_schedule": "schedule expression",
    "_check_wecom_key": "secret (43-char EncodingAESKey)",
}

# One line per field: "<Model>.<field>" first, then "<Base>.<field>" along the MRO.
FIELD_DOCS: dict[str, str] = {
    # top level
    "KbridgeConfig.buses": "Event buses (one ingress topic each).",
    "KbridgeConfig.connections": "Reusable credentials for webhook targets.",
    "KbridgeConfig.targets": "Where routed events are delivered.",
    "KbridgeConfig.sources": "Where events come from (webhooks, brokers, schedules).",
    "KbridgeConfig.rules": "Patterns on a bus and the targets of matching events.",
    # buses
    "Bus.name": "Bus name; the ingress topic is `kbridge.bus.<name>`, dead letters "
    "`kbridge.bus.<name>.dlq`.",
    "Bus.description": "Free text, shown by `kbridge get buses`.",
    "Bus.partitions": "Partitions of the ingress topic when `kbridge apply` creates it "
    "(existing topics keep theirs); the router parallelism ceiling.",
    "Bus.retention": "`retention.ms` of the ingress topic: how far back `kbridge replay` "
    "can reach. A change is applied to the existing topic.",
    "Bus.max_event_bytes": "Largest event (bytes) accepted for this bus.",
    # rules
    "Rule.name": "Rule name; marks routed records (`kbridge-rule` header).",
    "Rule.bus": "The bus whose events this rule sees.",
    "Rule.description": "Free text.",
    "Rule.enabled": "`false` keeps the rule but routes nothing.",
    "Rule.pattern": "Event pattern (see [patterns.md](patterns.md)); a mapping or a JSON string.",
    "Rule.targets": "Where matching events go; a target may appear once per rule.",
    "RuleTarget.target": "Name of a target in `targets`.",
    "RuleTarget.transform": "What the target receives (see "
    "[transformations.md](transformations.md)); absent = the whole event. A mapping or a "
    "JSON string.",
    "RuleTarget.retry": "How long the sink retries before dead-lettering.",
    "RetryPolicy.max_attempts": "Delivery attempts before the event is dead-lettered "
    "(EventBridge's ceiling: 185).",
    "RetryPolicy.max_age": "Oldest event age still retried (60 s to 24 h).",
    # targets: common
    "TargetBase.name": "Target name; egress topic `kbridge.target.<name>`, dead letters "
    "`kbridge.dlq.<name>`, sink group `kbridge-sink-<name>`.",
    "TargetBase.kind": "Selects the target kind (the sections below).",
    "TargetBase.description": "Free text.",
    "TargetBase.partitions": "Partitions of the egress topic when created: the ceiling of "
    "useful sink workers.",
    "TargetBase.format": "Wire format of the egress topic (see "
    "[connectors.md](connectors.md#egress-record-format)).",
    "TargetBase.allow_private_network": "Allow loopback, private, link-local and metadata "
    "addresses (lifts the SSRF guard on every kind: HTTP, SMTP, SQL, Kafka `cluster`; without "
    "it such IP literals are refused at validation). For tests and internal destinations.",
    "_ImTarget.digest": "Batch bursts into one message (see `Digest`).",
    "_ImTarget.oversize": "A message over the platform's size limit is cut with a marker "
    "(`truncate`) or sent as numbered parts (`split`).",
    "_ImTarget.timeout_seconds": "HTTP/SMTP timeout per delivery.",
    "_ImTarget.max_wait_seconds": "Longest wait for the rate limiter before the delivery "
    "is handed back as backpressure.",
    "Digest.window_seconds": "At most one message per window.",
    "Digest.max_items": "Events listed in full per digest message.",
    # mysql
    "MysqlTarget.kind": "`mysql`",
    "MysqlTarget.url": "SQLAlchemy URL (`mysql+pymysql://user:pass@host/db`, "
    "`sqlite:///file.db`); the password is masked in output.",
    "MysqlTarget.table": "Table to upsert into, keyed by event id.",
    "MysqlTarget.columns": "Extra columns: column name → JSONPath into the transformed event.",
    "MysqlTarget.batch_size": "Rows per upsert batch.",
    # webhook
    "WebhookTarget.kind": "`webhook`",
    "WebhookTarget.url": "Endpoint to call.",
    "WebhookTarget.method": "HTTP method.",
    "WebhookTarget.headers": "Extra request headers.",
    "WebhookTarget.body": "`binary` (attributes in `ce-*` headers), `structured` (whole "
    "CloudEvent as JSON) or `raw` (the payload alone).",
    "WebhookTarget.timeout": "Request timeout in seconds.",
    "WebhookTarget.connection": "Name of a connection supplying credentials.",
    "WebhookTarget.secret": "Signs the body into `X-Kbridge-Signature`.",
    "WebhookTarget.rate_limit": "Invocations per second at most.",
    # function
    "FunctionTarget.kind": "`function`",
    "FunctionTarget.url": "HTTP function endpoint (exactly one of `url` and `entry_point`).",
    "FunctionTarget.entry_point": "Name of a Python callable in the `kbridge.functions` "
    "entry-point group.",
    "FunctionTarget.publish_to_bus": "Publish the function's return value as an event on this bus.",
    "FunctionTarget.timeout": "Invocation timeout in seconds.",
    # kafka
    "KafkaTarget.kind": "`kafka`",
    "KafkaTarget.topic": "Topic to copy events to.",
    "KafkaTarget.cluster": "Another cluster (see `KafkaClientConfig`); unset = this one.",
    # IM
    "DingtalkTarget.kind": "`dingtalk`",
    "DingtalkTarget.url": "Robot webhook URL (`https://oapi.dingtalk.com/robot/send?"
    "access_token=...`).",
    "DingtalkTarget.secret": "The robot's 加签 signing secret (`SEC...`).",
    "DingtalkTarget.msgtype": "Message type; the text comes from the rule's transform.",
    "DingtalkTarget.title": "Title of markdown and actionCard messages.",
    "DingtalkTarget.at_mobiles": "Mobile numbers to @-mention.",
    "DingtalkTarget.at_user_ids": "User ids to @-mention.",
    "DingtalkTarget.at_all": "@-mention everyone.",
    "DingtalkTarget.single_title": "actionCard button title (with `single_url`).",
    "DingtalkTarget.single_url": "actionCard button link.",
    "DingtalkTarget.rate_per_minute": "Messages per minute (DingTalk allows 20).",
    "DingtalkTarget.max_bytes": "Body size limit.",
    "WecomTarget.kind": "`wecom`",
    "WecomTarget.url": "Group robot webhook URL (`.../cgi-bin/webhook/send?key=...`).",
    "WecomTarget.msgtype": "Message type; the text comes from the rule's transform.",
    "WecomTarget.mentioned_list": "User ids to mention (`@all` for everyone).",
    "WecomTarget.mentioned_mobile_list": "Mobile numbers to mention.",
    "WecomTarget.rate_per_minute": "Messages per minute (WeCom allows 20).",
    "FeishuTarget.kind": "`feishu`",
    "FeishuTarget.url": "Custom bot webhook URL (`.../open-apis/bot/v2/hook/...`).",
    "FeishuTarget.secret": "The bot's signature secret.",
    "FeishuTarget.msgtype": "`text`, or `interactive` (a card).",
    "FeishuTarget.title": "Card title of `interactive` messages.",
    "FeishuTarget.rate_per_minute": "Requests per minute (Feishu allows 100).",
    "FeishuTarget.rate_per_second": "Requests per second (Feishu allows 5).",
    "FeishuTarget.max_bytes": "Body size limit.",
    "SlackTarget.kind": "`slack`",
    "SlackTarget.url": "Incoming webhook URL (`https://hooks.slack.com/services/...`).",
    "SlackTarget.msgtype": "`text`, or `blocks` (the transform renders Block Kit JSON).",
    "SlackTarget.rate_per_second": "Messages per second (Slack allows about 1).",
    "SlackTarget.max_chars": "Text length cap.",
    "EmailTarget.kind": "`email`",
    "EmailTarget.host": "SMTP server.",
    "EmailTarget.port": "SMTP port; default 587 (`starttls`), 465 (`implicit`), 25 (`none`).",
    "EmailTarget.tls": "TLS mode.",
    "EmailTarget.username": "SMTP login.",
    "EmailTarget.password": "SMTP password.",
    "EmailTarget.from_addr": "Sender address.",
    "EmailTarget.to": "Recipients.",
    "EmailTarget.cc": "Copy recipients.",
    "EmailTarget.subject": "Subject template over the egress headers: `{ce_type}`, "
    "`{kbridge-rule}`, ... or `{type}`, `{source}`, `{subject}`, `{id}`, `{time}`, `{rule}`.",
    "EmailTarget.html": "The payload is HTML (a plain-text part is derived).",
    "EmailTarget.rate_per_minute": "Messages per minute.",
    "EmailTarget.max_bytes": "Message size limit.",
    # connections
    "ConnectionBase.name": "Connection name, referred to by webhook targets' `connection`.",
    "ConnectionBase.kind": "Selects the connection kind.",
    "ConnectionBase.description": "Free text.",
    "BasicConnection.kind": "`basic`",
    "BasicConnection.username": "User name.",
    "BasicConnection.password": "Password.",
    "ApiKeyConnection.kind": "`api_key`",
    "ApiKeyConnection.header": "Header carrying the key.",
    "ApiKeyConnection.value": "The header's value.",
    "OAuthClientCredentialsConnection.kind": "`oauth_client_credentials`",
    "OAuthClientCredentialsConnection.token_url": "Token endpoint.",
    "OAuthClientCredentialsConnection.client_id": "OAuth client id.",
    "OAuthClientCredentialsConnection.client_secret": "OAuth client secret.",
    "OAuthClientCredentialsConnection.scope": "Requested scope.",
    "OAuthClientCredentialsConnection.allow_private_network": "Allow a loopback or "
    "private token endpoint.",
    # sources: common
    "SourceBase.name": "Source name (`kbridge source <name>`, or the webhook path "
    "`/v1/webhooks/<name>`).",
    "SourceBase.kind": "Selects the source kind.",
    "SourceBase.bus": "The bus its events are published to.",
    "SourceBase.description": "Free text.",
    "MqttSource.kind": "`mqtt`",
    "MqttSource.url": "Broker URL (`mqtt://host:1883`, `mqtts://...`).",
    "MqttSource.topics": "Topic filters to subscribe to (`sensors/#`).",
    "MqttSource.qos": "Subscription QoS.",
    "MqttSource.client_id": "MQTT client id.",
    "AmqpSource.kind": "`amqp`",
    "AmqpSource.url": "Broker URL (`amqp://user:pass@host:5672/vhost`).",
    "AmqpSource.queue": "Queue to consume (set `queue`, `exchange` or both).",
    "AmqpSource.exchange": "Exchange to bind a queue to.",
    "AmqpSource.routing_key": "Binding key for `exchange`.",
    "AmqpSource.prefetch": "Unacknowledged messages in flight.",
    "NatsSource.kind": "`nats`",
    "NatsSource.url": "Server URL (`nats://host:4222`).",
    "NatsSource.subject": "Subject to subscribe to (wildcards allowed).",
    "NatsSource.stream": "JetStream stream; unset = core NATS.",
    "NatsSource.durable": "JetStream durable consumer name.",
    "KafkaSource.kind": "`kafka`",
    "KafkaSource.cluster": "The cluster to read (see `KafkaClientConfig`).",
    "KafkaSource.topics": "Topics to consume.",
    "KafkaSource.group_id": "Consumer group.",
    "KafkaSource.allow_private_network": "Allow a cluster on loopback, private or link-local "
    "addresses (lifts the SSRF guard on the bootstrap servers and advertised brokers).",
    "ScheduleSource.kind": "`schedule`",
    "ScheduleSource.expression": "`rate(5 minutes)`, AWS six-field `cron(0 12 * * ? *)` "
    "or a five-field cron line (`*/5 9-17 * * 1-5`).",
    "ScheduleSource.timezone": "Time zone ticks are computed in.",
    "ScheduleSource.data": "The events' `data`.",
    "GithubSource.kind": "`github`",
    "GithubSource.secret": "Webhook secret (`X-Hub-Signature-256`).",
    "SlackSource.kind": "`slack`",
    "SlackSource.secret": "App signing secret.",
    "SlackSource.tolerance_seconds": "Replay window for `X-Slack-Request-Timestamp`.",
    "StripeSource.kind": "`stripe`",
    "StripeSource.secret": "Endpoint signing secret (`whsec_...`).",
    "StripeSource.tolerance_seconds": "Replay window for the signed timestamp.",
    "FeishuSource.kind": "`feishu`",
    "FeishuSource.verification_token": "The app's Verification Token.",
    "FeishuSource.encrypt_key": "The app's Encrypt Key (bodies encrypted and signed).",
    "FeishuSource.tolerance_seconds": "Replay window; null disables it.",
    "DingtalkSource.kind": "`dingtalk`",
    "DingtalkSource.secret": "The robot's AppSecret.",
    "DingtalkSource.tolerance_seconds": "Replay window (DingTalk allows one hour).",
    "WecomSource.kind": "`wecom`",
    "WecomSource.token": "Callback Token.",
    "WecomSource.encoding_aes_key": "Callback EncodingAESKey.",
    "WecomSource.corp_id": "CorpID (SuiteID for third-party apps).",
    "WecomSource.tolerance_seconds": "Replay window; null disables it.",
    "MappedWebhookSource.platform": "Event `source` becomes `saas.<platform>`.",
    "MappedWebhookSource.event_type": "Event `type` when no header or field gives one.",
    "MappedWebhookSource.event_type_header": "Header holding the event type.",
    "MappedWebhookSource.event_type_field": "Dotted path in the JSON body to the event type.",
    "MappedWebhookSource.id_header": "Header holding the delivery id.",
    "MappedWebhookSource.id_field": "Dotted path to the delivery id (else the body's SHA-256).",
    "MappedWebhookSource.subject_field": "Dotted path to the event subject.",
    "MappedWebhookSource.ip_allowlist": "Accepted client addresses or CIDR blocks (empty = any).",
    "HmacSource.kind": "`hmac`",
    "HmacSource.secret": "HMAC key.",
    "HmacSource.header": "Header carrying the signature.",
    "HmacSource.algorithm": "HMAC hash.",
    "HmacSource.encoding": "Signature encoding.",
    "HmacSource.prefix": "Text before the signature in the header (`sha256=`).",
    "HmacSource.timestamp_header": "Header with a signed timestamp (enables the replay window).",
    "HmacSource.timestamp_separator": "Between timestamp and body in the signed message.",
    "HmacSource.tolerance_seconds": "Replay window.",
    "TokenSource.kind": "`token`",
    "TokenSource.token": "Secret URL token (`/v1/webhooks/<name>/<token>`, 16+ characters).",
    "TokenSource.id_field": "Dotted path to the delivery id (腾讯问卷's `id`).",
    "TokenSource.event_type_field": "Dotted path to the event type (腾讯问卷's `action`).",
    # kafka client
    "KafkaClientConfig.bootstrap_servers": "Comma-separated `host:port` list.",
    "KafkaClientConfig.security_protocol": "Kafka security protocol.",
    "KafkaClientConfig.sasl_mechanism": "SASL mechanism.",
    "KafkaClientConfig.sasl_username": "SASL user.",
    "KafkaClientConfig.sasl_password": "SASL password.",
    "KafkaClientConfig.ssl_cafile": "CA certificate file.",
    "KafkaClientConfig.ssl_certfile": "Client certificate file.",
    "KafkaClientConfig.ssl_keyfile": "Client key file.",
    "KafkaClientConfig.ssl_key_password": "Client key password.",
    "KafkaClientConfig.client_id": "Kafka client id.",
    "KafkaClientConfig.extra": 'Extra librdkafka properties (`{"linger.ms": "5"}`).',
}


class MissingDocs(Exception):
    """Some fields have no entry in FIELD_DOCS."""


def _constraints(metadata: list[Any]) -> tuple[list[str], list[str]]:
    """(names of special string types, constraint texts) of Annotated metadata."""
    kinds: list[str] = []
    rules: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):  # Annotated[x, Field(...)] nested in a union
            inner_kinds, inner_rules = _constraints(list(item.metadata))
            kinds += inner_kinds
            rules += inner_rules
            continue
        func = getattr(item, "func", None)
        if func is not None and getattr(func, "__name__", "") in VALIDATOR_TYPES:
            kinds.append(VALIDATOR_TYPES[func.__name__])
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None and not callable(value):
                rules.append(f"{sign} {_num(value)}")
        for attr, word in (("min_length", "min length"), ("max_length", "max length")):
            value = getattr(item, attr, None)
            if value is not None:
                rules.append(f"{word} {value}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            rules.append(f"pattern `{pattern}`")
    return kinds, rules


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and value >= 10_000 else str(value)


def _type(annotation: Any) -> tuple[str, list[str]]:
    """Human type text and the constraints found inside ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base, *metadata = args
        kinds, rules = _constraints(metadata)
        text, inner = _type(base)
        return (kinds[0] if kinds else text), rules + inner
    if origin in (Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        text = " \\| ".join(p[0] for p in parts)
        rules = [r for p in parts for r in p[1]]
        if type(None) in args:
            text += " \\| null"
        return text, rules
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args), []
    if origin in (list, tuple):
        item, item_rules = _type(args[0]) if args else ("any", [])
        return f"list of {item}", [f"items {r}" for r in item_rules]
    if origin is dict:
        key, value = (_type(a)[0] for a in args)
        return ("mapping" if value == "any" else f"mapping {key} → {value}"), []
    if annotation is Any:
        return "any", []
    if annotation is SecretStr:
        return "secret", []
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return f"[`{annotation.__name__}`](#{annotation.__name__.lower()})", []
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    ), []


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, BaseModel):
        return "defaults"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" or " " in value else f"`{value}`"
    if isinstance(value, list | tuple):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{_num(value)}`"


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """``field: T = ...`` followed by a string literal in ``cls``'s body: field -> text."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            text = " ".join(following.value.value.split()).replace("``", "`")
            docs[node.target.id] = text
    return docs


def _description(model: type[BaseModel], name: str, missing: list[str]) -> str:
    """The field's docstring in the model's source, else its FIELD_DOCS entry."""
    for cls in model.__mro__:
        if name in getattr(cls, "__annotations__", {}):
            docstring = _attribute_docstrings(cls).get(name)
            if docstring:
                return docstring
        key = f"{cls.__name__}.{name}"
        if key in FIELD_DOCS:
            return FIELD_DOCS[key]
    missing.append(f"{model.__name__}.{name}")
    return ""


def _own_fields(model: type[BaseModel], inherited: bool) -> list[str]:
    """Field names to list for ``model``: all of them, or those its class body declares."""
    if inherited:
        return list(model.model_fields)
    declared: list[str] = []
    for cls in reversed(model.__mro__):
        if cls is model or cls.__name__ == "MappedWebhookSource":
            declared.extend(getattr(cls, "__annotations__", {}))
    return [name for name in model.model_fields if name in declared]


def _docstring(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return " ".join(doc.split()).replace("``", "`")


def _table(model: type[BaseModel], missing: list[str], *, inherited: bool = True) -> str:
    rows = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    for name in _own_fields(model, inherited):
        field = model.model_fields[name]
        annotation: Any = field.annotation
        if field.metadata:
            annotation = typing.Annotated[annotation, *field.metadata]
        text, rules = _type(annotation)
        if name == "kind" and typing.get_origin(field.annotation) is Literal:
            default = "**required**"
        elif text == "duration" and isinstance(field.default, float):
            default = f"`{format_duration(field.default)}`"
        else:
            default = _default(field)
        desc = _description(model, name, missing).replace("|", "\\|")
        rows.append(f"| `{name}` | {text} | {default} | {', '.join(rules)} | {desc} |")
    return "\n".join(rows)


def _section(
    level: str,
    title: str,
    model: type[BaseModel],
    missing: list[str],
    *,
    inherited: bool = True,
    note: str = "",
) -> str:
    anchor = f'<a id="{model.__name__.lower()}"></a>'
    parts = [f"{level} {title} {anchor}".rstrip(), "", _docstring(model)]
    if note:
        parts += ["", note]
    parts += ["", _table(model, missing, inherited=inherited), ""]
    return "\n".join(parts)


def _kinds(union: Any) -> list[type[BaseModel]]:
    return [m for m in typing.get_args(union) if inspect.isclass(m) and issubclass(m, BaseModel)]


def render_reference() -> str:
    """The generated part of docs/configuration.md (raises MissingDocs on gaps)."""
    missing: list[str] = []
    out: list[str] = [
        "## Reference",
        "",
        "Generated from the pydantic models in `processor/config/` (types, defaults, "
        "constraints) by `scripts/gen_docs.py`. Types: *name* is "
        "`[A-Za-z0-9_-]{1,200}`; *duration* is seconds or a string such as `90s`, `15m`, "
        "`24h`, `7d`; *secret* is a string masked in output (but stored in plain text in "
        "`kbridge.rules`). Every model rejects unknown keys.",
        "",
        _section("###", "Top level", KbridgeConfig, missing),
        _section("###", "`buses[]`: Bus", Bus, missing),
        _section("###", "`rules[]`: Rule", Rule, missing),
        _section("####", "`rules[].targets[]`: RuleTarget", RuleTarget, missing),
        _section("####", "`rules[].targets[].retry`: RetryPolicy", RetryPolicy, missing),
        "### `targets[]`",
        "",
        "Chosen by `kind`: "
        + ", ".join(
            f"[`{m.model_fields['kind'].default}`](#{m.__name__.lower()})"
            for m in _kinds(target_models.AnyTarget)
        )
        + ".",
        "",
        _section("####", "Fields of every target", target_models.TargetBase, missing),
        _section(
            "####",
            "Fields of every IM target (dingtalk, wecom, feishu, slack, email)",
            target_models._ImTarget,
            missing,
            inherited=False,
        ),
        _section("####", "`digest`: Digest", target_models.Digest, missing),
    ]
    for model in _kinds(target_models.AnyTarget):
        kind = model.model_fields["kind"].default
        out.append(
            _section(
                "####",
                f"`kind: {kind}`",
                model,
                missing,
                inherited=False,
                note="Plus the fields of every target"
                + (
                    " and of every IM target."
                    if issubclass(model, target_models._ImTarget)
                    else "."
                ),
            )
        )
    out += [
        "### `connections[]`",
        "",
        _section("####", "Fields of every connection", conn_models.ConnectionBase, missing),
    ]
    for model in (
        conn_models.BasicConnection,
        conn_models.ApiKeyConnection,
        conn_models.OAuthClientCredentialsConnection,
    ):
        kind = model.model_fields["kind"].default
        out.append(_section("####", f"`kind: {kind}`", model, missing, inherited=False))
    out += [
        "### `sources[]`",
        "",
        "Broker and schedule kinds run under `kbridge source <name>`; webhook kinds are "
        "served by the gateway at `/v1/webhooks/<name>` (see [connectors.md](connectors.md)).",
        "",
        _section("####", "Fields of every source", source_models.SourceBase, missing),
    ]
    for model in _kinds(source_models.AnySource):
        kind = model.model_fields["kind"].default
        out.append(
            _section(
                "####",
                f"`kind: {kind}`",
                model,
                missing,
                inherited=False,
                note="Plus the fields of every source.",
            )
        )
    out.append(
        _section(
            "###",
            "KafkaClientConfig",
            KafkaClientConfig,
            missing,
            note="The `cluster` of kafka targets and sources (the same fields as the "
            "`KBRIDGE_KAFKA__*` process settings).",
        )
    )
    if missing:
        raise MissingDocs("fields without a description in FIELD_DOCS: " + ", ".join(missing))
    return "\n".join(out).rstrip() + "\n"


def render_page(current: str) -> str:
    """``current`` (the page) with its generated part replaced."""
    head, sep, _ = current.partition(BEGIN)
    if not sep:
        head = current.rstrip() + "\n\n"
    return f"{head}{BEGIN}\n\n{render_reference()}\n{END}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    args = parser.parse_args(argv)
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    try:
        wanted = render_page(current)
    except MissingDocs as exc:
        print(f"gen_docs: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if wanted != current:
            print(
                f"{PAGE.relative_to(ROOT)} is stale: run `python scripts/gen_docs.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
