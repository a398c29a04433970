"""Targets: where routed events are delivered, one model per ``kind``.

Every target owns an egress topic (``kbridge.target.<name>``, ``partitions`` partitions)
that its sink workers drain, and a dead-letter topic. ``format`` is the wire format of
that egress topic for archival consumers. Sink modules read their kind's model; engineers
building a sink add the fields their kind needs here.

Destinations are checked against the SSRF guard's rules at validation time
(``kbridge validate``/``apply`` and the management API): a URL or host that is a private,
loopback, link-local or metadata IP *literal* is refused unless the target sets
``allow_private_network: true``, naming the field. Names are not resolved here (the models
stay pure); :func:`private_name_warnings` resolves them for the CLI's warnings, and the
sinks refuse at delivery whatever a name resolves to then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from processor.config._base import ConfigModel, Description, Name, Secret, mask_url
from processor.kafka.config import KafkaClientConfig
from processor.netguard import literal_refusal, private_name_warning, split_host_port

EgressFormat = Literal["binary", "structured", "avro"]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _sqlalchemy_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme or not rest:
        raise ValueError("must be a SQLAlchemy URL such as mysql+pymysql://user:pass@host/db")
    return value


def _email_address(value: str) -> str:
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"{value!r} is not an email address")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]

HostsOf = Callable[[Any], Iterable[tuple[str, int]]]
"""The ``(host, port)`` pairs a field's value makes kbridge connect to."""

PRIVATE_HINT = (
    "set allow_private_network: true on the target if this destination is meant to be "
    "internal (the SSRF guard refuses it otherwise)"
)


def url_hosts(value: Any) -> Iterator[tuple[str, int]]:
    """The host of an http(s) or SQLAlchemy URL."""
    if not isinstance(value, str):
        return
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return
    if parts.hostname:
        yield parts.hostname, port or (443 if parts.scheme == "https" else 80)


def plain_host(value: Any) -> Iterator[tuple[str, int]]:
    """A bare host name (SMTP)."""
    if isinstance(value, str) and value:
        yield value, 25


def kafka_hosts(value: Any) -> Iterator[tuple[str, int]]:
    """Every bootstrap server of a Kafka client config."""
    servers = getattr(value, "bootstrap_servers", None)
    if isinstance(servers, str):
        for server in servers.split(","):
            host, port = split_host_port(server, 9092)
            if host:
                yield host, port


EmailAddress = Annotated[str, AfterValidator(_email_address)]


class Digest(ConfigModel):
    """Batch bursts of events into one message: at most one per ``window_seconds``."""

    window_seconds: Annotated[float, Field(gt=0, le=86400)] = 60
    """At most one message per window."""
    max_items: Annotated[int, Field(ge=1, le=1000)] = 5
    """Events listed in full per digest message."""


class TargetBase(ConfigModel):
    """Fields every target kind has."""

    name: Name
    """Target name; egress topic `kbridge.target.<name>`, dead letters `kbridge.dlq.<name>`, sink
    group `kbridge-sink-<name>`."""
    kind: str
    """Selects the target kind (the sections below)."""
    description: Description = ""
    """Free text."""
    partitions: Annotated[int, Field(ge=1, le=10000)] = 3
    """Partitions of the egress topic when created: the ceiling of useful sink workers."""
    format: EgressFormat = "binary"
    """Wire format of the egress topic (see [connectors.md](connectors.md#egress-record-format))."""
    allow_private_network: bool = False
    """Allow loopback, private, link-local and metadata addresses (lifts the SSRF guard on every
    kind: HTTP, SMTP, SQL, Kafka `cluster`; without it such IP literals are refused at
    validation). For tests and internal destinations."""

    destination_fields: ClassVar[dict[str, HostsOf]] = {}
    """Fields naming where this kind connects, and how to read hosts from them."""

    @field_validator("*", mode="after")
    @classmethod
    def _public_destination(cls, value: Any, info: ValidationInfo) -> Any:
        hosts_of = cls.destination_fields.get(info.field_name or "")
        if hosts_of is None or info.data.get("allow_private_network"):
            return value
        for host, _ in hosts_of(value):
            reason = literal_refusal(host)
            if reason:
                raise ValueError(f"{reason}; {PRIVATE_HINT}")
        return value

    def destination_hosts(self) -> Iterator[tuple[str, str, int]]:
        """``(field, host, port)`` for every host this target connects to."""
        for name, hosts_of in self.destination_fields.items():
            for host, port in hosts_of(getattr(self, name, None)):
                yield name, host, port

    def destination(self) -> str:
        """Where this target delivers, safe to print (passwords masked)."""
        return ""


class MysqlTarget(TargetBase):
    """Upsert events into a SQL table (keyed by event id). ``url`` is a SQLAlchemy URL.

    ``columns`` maps column names to JSONPath expressions into the transformed event; the
    URL may carry a password, so ``repr`` masks it.
    """

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["mysql"] = "mysql"
    """The target kind: `mysql`."""
    url: Annotated[str, AfterValidator(_sqlalchemy_url)]
    """SQLAlchemy URL (`mysql+pymysql://user:pass@host/db`, `sqlite:///file.db`); the password is
    masked in output."""
    table: Annotated[str, Field(min_length=1, max_length=64)]
    """Table to upsert into, keyed by event id."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Extra columns: column name → JSONPath into the transformed event."""
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 500
    """Rows per upsert batch."""

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (mask_url(value) if key == "url" else value)

    def destination(self) -> str:
        return f"{mask_url(self.url)} table={self.table}"


class WebhookTarget(TargetBase):
    """POST (or ``method``) each event to an HTTP endpoint.

    ``body`` chooses the CloudEvents HTTP binding (``binary``: attributes in ``ce-*``
    headers; ``structured``: the whole event as JSON) or ``raw`` (the payload alone).
    ``secret`` signs the body into ``X-Kbridge-Signature``; ``rate_limit`` caps
    invocations per second.
    """

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["webhook"] = "webhook"
    """The target kind: `webhook`."""
    url: HttpUrl
    """Endpoint to call."""
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE"] = "POST"
    """HTTP method."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers."""
    body: Literal["binary", "structured", "raw"] = "binary"
    """`binary` (attributes in `ce-*` headers), `structured` (whole CloudEvent as JSON) or `raw`
    (the payload alone)."""
    timeout: Annotated[float, Field(gt=0, le=300)] = 5.0
    """Request timeout in seconds."""
    connection: Name | None = None
    """Name of a connection supplying credentials."""
    secret: Secret | None = None
    """Signs the body into `X-Kbridge-Signature`."""
    rate_limit: Annotated[float, Field(gt=0)] | None = None
    """Invocations per second at most."""
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    """Requests in flight at once per sink worker (``rate_limit`` still caps the rate)."""

    def destination(self) -> str:
        return f"{self.method} {mask_url(self.url)}"


class FunctionTarget(TargetBase):
    """Invoke a function: an HTTP function endpoint (``url``) or a Python callable
    registered under the ``kbridge.functions`` entry-point group (``entry_point``).

    When ``publish_to_bus`` is set, the function's return value is published as an event
    to that bus.
    """

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["function"] = "function"
    """The target kind: `function`."""
    url: HttpUrl | None = None
    """HTTP function endpoint (exactly one of `url` and `entry_point`)."""
    entry_point: Annotated[str, Field(min_length=1)] | None = None
    """Name of a Python callable in the `kbridge.functions` entry-point group."""
    publish_to_bus: Name | None = None
    """Publish the function's return value as an event on this bus."""
    timeout: Annotated[float, Field(gt=0, le=900)] = 30.0
    """Invocation timeout in seconds."""
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    """HTTP functions: invocations in flight at once per sink worker."""
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Entry-point functions: events per call (aggregating functions see a whole batch)."""

    @model_validator(mode="after")
    def _exactly_one_callee(self) -> FunctionTarget:
        if (self.url is None) == (self.entry_point is None):
            raise ValueError("set exactly one of url and entry_point")
        return self

    def destination(self) -> str:
        return mask_url(self.url) if self.url else f"entry point {self.entry_point}"


class KafkaTarget(TargetBase):
    """Copy events to a Kafka topic, on this cluster (``cluster`` unset) or another one."""

    destination_fields: ClassVar[dict[str, HostsOf]] = {"cluster": kafka_hosts}
    kind: Literal["kafka"] = "kafka"
    """The target kind: `kafka`."""
    topic: Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]
    """Topic to copy events to."""
    cluster: KafkaClientConfig | None = None
    """Another cluster (see `KafkaClientConfig`); unset = this one."""

    def destination(self) -> str:
        where = self.cluster.bootstrap_servers if self.cluster else "this cluster"
        return f"{self.topic} @ {where}"


class _ImTarget(TargetBase):
    """Fields every IM and alert target shares (sinks in ``processor/sinks/im/``).

    ``oversize`` decides what happens to a message over the platform's size limit: cut with
    a visible marker, or sent as several numbered parts (each counts against the rate
    limit). A delivery waits at most ``max_wait_seconds`` for the rate limiter; past that it
    goes back to the worker as backpressure with ``retry_after``.
    """

    digest: Digest | None = None
    """Batch bursts into one message (see `Digest`)."""
    oversize: Literal["truncate", "split"] = "truncate"
    """A message over the platform's size limit is cut with a marker (`truncate`) or sent as
    numbered parts (`split`)."""
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    """HTTP/SMTP timeout per delivery."""
    max_wait_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    """Longest wait for the rate limiter before the delivery is handed back as backpressure."""


class DingtalkTarget(_ImTarget):
    """DingTalk custom robot (``secret``: the robot's 加签 signing secret).

    ``actionCard`` messages get one button when ``single_title`` and ``single_url`` are set
    (or the template renders the whole ``actionCard`` object as JSON). ``max_bytes`` is the
    body limit, about 20 KB per DingTalk's documentation [UNCONFIRMED].
    """

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["dingtalk"] = "dingtalk"
    """The target kind: `dingtalk`."""
    url: HttpUrl
    """Robot webhook URL (`https://oapi.dingtalk.com/robot/send?access_token=...`)."""
    secret: Secret | None = None
    """The robot's 加签 signing secret (`SEC...`)."""
    msgtype: Literal["text", "markdown", "actionCard"] = "markdown"
    """Message type; the text comes from the rule's transform."""
    title: str = "kbridge"
    """Title of markdown and actionCard messages."""
    at_mobiles: list[str] = Field(default_factory=list)
    """Mobile numbers to @-mention."""
    at_user_ids: list[str] = Field(default_factory=list)
    """User ids to @-mention."""
    at_all: bool = False
    """@-mention everyone."""
    single_title: str | None = None
    """actionCard button title (with `single_url`)."""
    single_url: HttpUrl | None = None
    """actionCard button link."""
    rate_per_minute: Annotated[int, Field(ge=1, le=1000)] = 20
    """Messages per minute (DingTalk allows 20)."""
    max_bytes: Annotated[int, Field(ge=1024, le=1_000_000)] = 20_000
    """Body size limit."""

    def destination(self) -> str:
        return self.url.split("?", 1)[0]


class WecomTarget(_ImTarget):
    """WeCom (企业微信) group robot."""

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["wecom"] = "wecom"
    """The target kind: `wecom`."""
    url: HttpUrl
    """Group robot webhook URL (`.../cgi-bin/webhook/send?key=...`)."""
    msgtype: Literal["text", "markdown"] = "markdown"
    """Message type; the text comes from the rule's transform."""
    mentioned_list: list[str] = Field(default_factory=list)
    """User ids to mention (`@all` for everyone)."""
    mentioned_mobile_list: list[str] = Field(default_factory=list)
    """Mobile numbers to mention."""
    rate_per_minute: Annotated[int, Field(ge=1, le=1000)] = 20
    """Messages per minute (WeCom allows 20)."""

    def destination(self) -> str:
        return self.url.split("?", 1)[0]


class FeishuTarget(_ImTarget):
    """Feishu / Lark custom bot (``secret``: the bot's signature secret).

    Feishu limits a bot to 100 requests per minute and 5 per second, bodies to 20 KB.
    """

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["feishu"] = "feishu"
    """The target kind: `feishu`."""
    url: HttpUrl
    """Custom bot webhook URL (`.../open-apis/bot/v2/hook/...`)."""
    secret: Secret | None = None
    """The bot's signature secret."""
    msgtype: Literal["text", "interactive"] = "text"
    """`text`, or `interactive` (a card)."""
    title: str = "kbridge"
    """Card title of `interactive` messages."""
    rate_per_minute: Annotated[int, Field(ge=1, le=1000)] = 100
    """Requests per minute (Feishu allows 100)."""
    rate_per_second: Annotated[int, Field(ge=1, le=100)] = 5
    """Requests per second (Feishu allows 5)."""
    max_bytes: Annotated[int, Field(ge=1024, le=1_000_000)] = 20 * 1024
    """Body size limit."""

    def destination(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/…"


class SlackTarget(_ImTarget):
    """Slack incoming webhook (``max_chars``: text cap, 40,000 per Slack [UNCONFIRMED])."""

    destination_fields: ClassVar[dict[str, HostsOf]] = {"url": url_hosts}
    kind: Literal["slack"] = "slack"
    """The target kind: `slack`."""
    url: HttpUrl
    """Incoming webhook URL (`https://hooks.slack.com/services/...`)."""
    msgtype: Literal["text", "blocks"] = "text"
    """`text`, or `blocks` (the transform renders Block Kit JSON)."""
    rate_per_second: Annotated[float, Field(gt=0, le=100)] = 1.0
    """Messages per second (Slack allows about 1)."""
    burst: Annotated[int, Field(ge=1, le=20)] = 3
    """Messages sent back to back before the rate applies (`burst` in any `burst /
    rate_per_second` seconds): Slack allows one per second "with short bursts >1 allowed"
    (https://api.slack.com/docs/rate-limits), so three alarms of one incident arrive
    together; a refused burst gets 429 with `Retry-After`, which is honoured. `1`: strictly
    one per `1 / rate_per_second` seconds."""
    max_chars: Annotated[int, Field(ge=100, le=1_000_000)] = 40_000
    """Text length cap."""

    def destination(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/…"


class EmailTarget(_ImTarget):
    """Send each event (or digest) as an email over SMTP.

    ``subject`` is a template over the egress headers: ``{ce_type}``, ``{kbridge-rule}``, ...
    or the aliases ``{type}``, ``{source}``, ``{subject}``, ``{id}``, ``{time}``, ``{rule}``.
    ``port`` defaults to 587 (starttls), 465 (implicit) or 25 (none). With ``html`` the
    payload is HTML and a plain-text part is derived from it.
    """

    destination_fields: ClassVar[dict[str, HostsOf]] = {"host": plain_host}
    kind: Literal["email"] = "email"
    """The target kind: `email`."""
    host: Annotated[str, Field(min_length=1)]
    """SMTP server."""
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """SMTP port; default 587 (`starttls`), 465 (`implicit`), 25 (`none`)."""
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    """TLS mode."""
    username: str | None = None
    """SMTP login."""
    password: Secret | None = None
    """SMTP password."""
    from_addr: EmailAddress
    """Sender address."""
    to: Annotated[list[EmailAddress], Field(min_length=1)]
    """Recipients."""
    cc: list[EmailAddress] = Field(default_factory=list)
    """Copy recipients."""
    subject: str = "{type} from {source}"
    """Subject template over the egress headers: `{ce_type}`, `{kbridge-rule}`, ... or `{type}`,
    `{source}`, `{subject}`, `{id}`, `{time}`, `{rule}`."""
    html: bool = False
    """The payload is HTML (a plain-text part is derived)."""
    rate_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 60
    """Messages per minute."""
    max_bytes: Annotated[int, Field(ge=1024, le=50_000_000)] = 10 * 1024 * 1024
    """Message size limit."""

    def smtp_port(self) -> int:
        """``port``, or the standard port of the ``tls`` mode."""
        return self.port or {"starttls": 587, "implicit": 465, "none": 25}[self.tls]

    def destination(self) -> str:
        return f"smtp://{self.host}:{self.smtp_port()} to {', '.join(self.to)}"


AnyTarget = (
    MysqlTarget
    | WebhookTarget
    | FunctionTarget
    | KafkaTarget
    | DingtalkTarget
    | WecomTarget
    | FeishuTarget
    | SlackTarget
    | EmailTarget
)
Target = Annotated[AnyTarget, Field(discriminator="kind")]
"""Any target kind, chosen by its ``kind`` field."""

TARGET_KINDS: tuple[str, ...] = (
    "mysql",
    "webhook",
    "function",
    "kafka",
    "dingtalk",
    "wecom",
    "feishu",
    "slack",
    "email",
)


NAME_CHECK_SECONDS = 3.0
"""How long ``kbridge validate``/``apply`` wait for all destination names to resolve."""


def private_name_warnings(
    targets: Iterable[TargetBase], *, timeout: float = NAME_CHECK_SECONDS
) -> list[str]:
    """One line per destination *name* that resolves to a non-public address now, for the
    targets without ``allow_private_network`` (literals were refused at validation).

    Resolves with the local resolver (the sink's may differ), every name at once in daemon
    threads, waiting ``timeout`` seconds in all: names that do not resolve here, or not in
    time, are not reported (a broken resolver must not stall ``kbridge apply``).
    """
    wanted = [
        (target.name, field_name, host, port)
        for target in targets
        if not target.allow_private_network
        for field_name, host, port in target.destination_hosts()
    ]
    answers: dict[tuple[str, int], str | None] = {}

    def look_up(key: tuple[str, int]) -> None:
        answers[key] = private_name_warning(*key)

    threads = [
        threading.Thread(target=look_up, args=(key,), daemon=True)
        for key in dict.fromkeys((host, port) for _, _, host, port in wanted)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    lines: list[str] = []
    for name, field_name, host, port in wanted:
        reason = answers.get((host, port))
        if reason:
            lines.append(
                f"targets[{name}].{field_name}: {reason}; deliveries will be refused; "
                f"{PRIVATE_HINT}"
            )
    return lines
