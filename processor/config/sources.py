"""Sources: where events come from, one model per ``kind``; each publishes to one ``bus``.

Broker sources (``mqtt``, ``amqp``, ``nats``, ``kafka``) and ``schedule`` run under
``kbridge source <name>``; webhook kinds (``github``, ``slack``, ``stripe``, ``feishu``,
``dingtalk``, ``wecom``, ``hmac``, ``token``) are served by the gateway at
``/v1/webhooks/<name>``. The engineers building sources and webhooks refine their kind's
class here.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from processor.config._base import ConfigModel, Description, Name, Secret, mask_url
from processor.kafka.config import KafkaClientConfig
from processor.schedules import ScheduleExpressionError, parse_schedule


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _check_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return value


class SourceBase(ConfigModel):
    """Fields every source kind has."""

    name: Name
    """Source name (`kbridge source <name>`, or the webhook path `/v1/webhooks/<name>`)."""
    kind: str
    """Selects the source kind."""
    bus: Name
    """The bus its events are published to."""
    description: Description = ""
    """Free text."""

    def origin(self) -> str:
        """Where this source listens or reads, safe to print."""
        return ""


class MqttSource(SourceBase):
    """Subscribe to MQTT topic filters (``sensors/#``)."""

    kind: Literal["mqtt"] = "mqtt"
    """The source kind: `mqtt`."""
    url: str
    """Broker URL (`mqtt://host:1883`, `mqtts://...`)."""
    allow_private_network: bool = False
    """Let the broker be on a private, loopback or link-local address (SSRF guard)."""
    topics: Annotated[list[str], Field(min_length=1)]
    """Topic filters to subscribe to (`sensors/#`)."""
    qos: Literal[0, 1, 2] = 1
    """Subscription QoS."""
    client_id: str | None = None
    """MQTT client id."""

    def origin(self) -> str:
        return f"{mask_url(self.url)} {' '.join(self.topics)}"


class AmqpSource(SourceBase):
    """Consume an AMQP 0-9-1 queue, or bind a private queue to ``exchange``."""

    kind: Literal["amqp"] = "amqp"
    """The source kind: `amqp`."""
    url: str
    """Broker URL (`amqp://user:pass@host:5672/vhost`)."""
    allow_private_network: bool = False
    """Let the broker be on a private, loopback or link-local address (SSRF guard)."""
    queue: str | None = None
    """Queue to consume (set `queue`, `exchange` or both)."""
    exchange: str | None = None
    """Exchange to bind a queue to."""
    routing_key: str = "#"
    """Binding key for `exchange`."""
    prefetch: Annotated[int, Field(ge=1, le=65535)] = 100
    """Unacknowledged messages in flight."""

    @model_validator(mode="after")
    def _queue_or_exchange(self) -> AmqpSource:
        if self.queue is None and self.exchange is None:
            raise ValueError("set queue, exchange, or both")
        return self

    def origin(self) -> str:
        return f"{mask_url(self.url)} {self.queue or self.exchange}"


class NatsSource(SourceBase):
    """Subscribe to a NATS subject (JetStream when ``stream`` is set)."""

    kind: Literal["nats"] = "nats"
    """The source kind: `nats`."""
    url: str
    """Server URL (`nats://host:4222`)."""
    allow_private_network: bool = False
    """Let the broker be on a private, loopback or link-local address (SSRF guard)."""
    subject: Annotated[str, Field(min_length=1)]
    """Subject to subscribe to (wildcards allowed)."""
    stream: str | None = None
    """JetStream stream; unset = core NATS."""
    durable: str | None = None
    """JetStream durable consumer name."""

    def origin(self) -> str:
        return f"{mask_url(self.url)} {self.subject}"


class KafkaSource(SourceBase):
    """Consume topics of another Kafka cluster (or this one)."""

    kind: Literal["kafka"] = "kafka"
    """The source kind: `kafka`."""
    cluster: KafkaClientConfig
    """The cluster to read (see `KafkaClientConfig`)."""
    topics: Annotated[list[str], Field(min_length=1)]
    """Topics to consume."""
    group_id: str | None = None
    """Consumer group."""
    allow_private_network: bool = False
    """Let ``cluster`` be on a private, loopback or link-local address (SSRF guard)."""

    def origin(self) -> str:
        return f"{self.cluster.bootstrap_servers} {' '.join(self.topics)}"


def _check_schedule(value: str) -> str:
    """``rate()``/``cron()`` as EventBridge Scheduler, or a Unix five-field cron line.

    Parsed by :func:`processor.schedules.parse_schedule`, the parser the schedule source
    runs, so out-of-range values or a misplaced ``?`` are rejected at validation time and
    nothing valid here fails later.
    """
    try:
        parse_schedule(value)
    except ScheduleExpressionError as exc:
        raise ValueError(str(exc)) from None
    return value


class ScheduleSource(SourceBase):
    """Emit an event on a schedule; ``data`` becomes the event's data."""

    # expression: rate(5 minutes), AWS six-field cron(0 12 * * ? *) with ? L W #, or a
    # standard five-field cron line (*/5 9-17 * * 1-5); ticks are computed in ``timezone``.

    kind: Literal["schedule"] = "schedule"
    """The source kind: `schedule`."""
    expression: Annotated[str, AfterValidator(_check_schedule)]
    """`rate(5 minutes)`, AWS six-field `cron(0 12 * * ? *)` or a five-field cron line (`*/5 9-17
    * * 1-5`)."""
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    """Time zone ticks are computed in."""
    data: dict[str, Any] = Field(default_factory=dict)
    """The events' `data`."""

    def origin(self) -> str:
        return f"{self.expression} {self.timezone}"


class WebhookSourceBase(SourceBase):
    """A SaaS webhook served by the gateway; ``processor/gateway/webhooks/`` verifies it."""

    def origin(self) -> str:
        return f"/v1/webhooks/{self.name}"


Tolerance = Annotated[int, Field(ge=1, le=86400)]
"""Accepted distance in seconds between a signed timestamp and the gateway's clock."""


class GithubSource(WebhookSourceBase):
    """GitHub webhooks, verified by ``X-Hub-Signature-256`` with ``secret``."""

    kind: Literal["github"] = "github"
    """The source kind: `github`."""
    secret: Secret
    """Webhook secret (`X-Hub-Signature-256`)."""


class SlackSource(WebhookSourceBase):
    """Slack Events API, slash commands, interactivity; verified with the signing ``secret``."""

    kind: Literal["slack"] = "slack"
    """The source kind: `slack`."""
    secret: Secret
    """App signing secret."""
    tolerance_seconds: Tolerance = 300
    """Replay window for `X-Slack-Request-Timestamp`."""


class StripeSource(WebhookSourceBase):
    """Stripe webhooks, verified by ``Stripe-Signature`` with the endpoint ``secret``."""

    kind: Literal["stripe"] = "stripe"
    """The source kind: `stripe`."""
    secret: Secret
    """Endpoint signing secret (`whsec_...`)."""
    tolerance_seconds: Tolerance = 300
    """Replay window for the signed timestamp."""


class FeishuSource(WebhookSourceBase):
    """Feishu / Lark event subscriptions: the app's ``verification_token`` and/or
    ``encrypt_key`` (with an encrypt key, bodies are encrypted and signed). Feishu documents
    no replay window; ``tolerance_seconds`` (null disables it) is our choice."""

    kind: Literal["feishu"] = "feishu"
    """The source kind: `feishu`."""
    verification_token: Secret | None = None
    """The app's Verification Token."""
    encrypt_key: Secret | None = None
    """The app's Encrypt Key (bodies encrypted and signed)."""
    tolerance_seconds: Tolerance | None = 300
    """Replay window; null disables it."""

    @model_validator(mode="after")
    def _needs_a_secret(self) -> FeishuSource:
        if self.verification_token is None and self.encrypt_key is None:
            raise ValueError("set verification_token and/or encrypt_key")
        return self


class DingtalkSource(WebhookSourceBase):
    """DingTalk outgoing robot, verified by ``timestamp`` + ``sign`` with the AppSecret
    ``secret``; DingTalk itself allows one hour of clock skew."""

    kind: Literal["dingtalk"] = "dingtalk"
    """The source kind: `dingtalk`."""
    secret: Secret
    """The robot's AppSecret."""
    tolerance_seconds: Tolerance = 3600
    """Replay window (DingTalk allows one hour)."""


def _check_wecom_key(value: Secret) -> Secret:
    try:
        key = base64.b64decode(value.get_secret_value() + "=", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError("must be WeCom's 43-character EncodingAESKey")
    return value


class WecomSource(WebhookSourceBase):
    """WeCom (企业微信) application callbacks: Token, EncodingAESKey and the receiveid
    ``corp_id`` (CorpID, or SuiteID for third-party apps)."""

    kind: Literal["wecom"] = "wecom"
    """The source kind: `wecom`."""
    token: Secret
    """Callback Token."""
    encoding_aes_key: Annotated[Secret, AfterValidator(_check_wecom_key)]
    """Callback EncodingAESKey."""
    corp_id: Annotated[str, Field(min_length=1)]
    """CorpID (SuiteID for third-party apps)."""
    tolerance_seconds: Tolerance | None = 300
    """Replay window; null disables it."""


class MappedWebhookSource(WebhookSourceBase):
    """A platform-agnostic webhook: where the CloudEvent attributes are in a delivery.

    ``source`` becomes ``saas.<platform>``; ``type``, ``id`` and ``subject`` come from a
    header or a dotted path into the JSON body; without an id the body's SHA-256 is used,
    so a platform retrying the same bytes still deduplicates.
    """

    platform: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
    """Event `source` becomes `saas.<platform>`."""
    event_type: Annotated[str, Field(min_length=1)] = "webhook"
    """Event `type` when no header or field gives one."""
    event_type_header: str | None = None
    """Header holding the event type."""
    event_type_field: str | None = None
    """Dotted path in the JSON body to the event type."""
    id_header: str | None = None
    """Header holding the delivery id."""
    id_field: str | None = None
    """Dotted path to the delivery id (else the body's SHA-256)."""
    subject_field: str | None = None
    """Dotted path to the event subject."""
    ip_allowlist: list[Annotated[str, AfterValidator(_check_network)]] = Field(default_factory=list)
    """Accepted client addresses or CIDR blocks (empty = any)."""


class HmacSource(MappedWebhookSource):
    """Any SaaS that signs ``prefix + encode(HMAC(secret, body))`` into ``header``; with
    ``timestamp_header`` the signed message is ``timestamp + timestamp_separator + body``
    and a replay window applies."""

    kind: Literal["hmac"] = "hmac"
    """The source kind: `hmac`."""
    secret: Secret
    """HMAC key."""
    header: Annotated[str, Field(min_length=1)] = "X-Signature"
    """Header carrying the signature."""
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    """HMAC hash."""
    encoding: Literal["hex", "base64"] = "hex"
    """Signature encoding."""
    prefix: str = ""
    """Text before the signature in the header (`sha256=`)."""
    timestamp_header: str | None = None
    """Header with a signed timestamp (enables the replay window)."""
    timestamp_separator: str = "."
    """Between timestamp and body in the signed message."""
    tolerance_seconds: Tolerance = 300
    """Replay window."""


class TokenSource(MappedWebhookSource):
    """SaaS that signs nothing (腾讯问卷 and other questionnaire tools): a secret token in
    the URL (``/v1/webhooks/<name>/<token>``, at least 16 characters), optional IP
    allowlist (addresses or CIDR blocks). Defaults map 腾讯问卷's envelope."""

    kind: Literal["token"] = "token"
    """The source kind: `token`."""
    token: Secret
    """Secret URL token (`/v1/webhooks/<name>/<token>`, 16+ characters)."""
    id_field: str | None = "id"
    """Dotted path to the delivery id (腾讯问卷's `id`)."""
    event_type_field: str | None = "action"
    """Dotted path to the event type (腾讯问卷's `action`)."""

    @model_validator(mode="after")
    def _long_token(self) -> TokenSource:
        if len(self.token.get_secret_value()) < 16:
            raise ValueError("token must be at least 16 characters")
        return self


AnySource = (
    MqttSource
    | AmqpSource
    | NatsSource
    | KafkaSource
    | ScheduleSource
    | GithubSource
    | SlackSource
    | StripeSource
    | FeishuSource
    | DingtalkSource
    | WecomSource
    | HmacSource
    | TokenSource
)
Source = Annotated[AnySource, Field(discriminator="kind")]
"""Any source kind, chosen by its ``kind`` field."""
