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
    kind: str
    bus: Name
    description: Description = ""

    def origin(self) -> str:
        """Where this source listens or reads, safe to print."""
        return ""


class MqttSource(SourceBase):
    """Subscribe to MQTT topic filters (``sensors/#``)."""

    kind: Literal["mqtt"] = "mqtt"
    url: str
    topics: Annotated[list[str], Field(min_length=1)]
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None

    def origin(self) -> str:
        return f"{mask_url(self.url)} {' '.join(self.topics)}"


class AmqpSource(SourceBase):
    """Consume an AMQP 0-9-1 queue, or bind a private queue to ``exchange``."""

    kind: Literal["amqp"] = "amqp"
    url: str
    queue: str | None = None
    exchange: str | None = None
    routing_key: str = "#"
    prefetch: Annotated[int, Field(ge=1, le=65535)] = 100

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
    url: str
    subject: Annotated[str, Field(min_length=1)]
    stream: str | None = None
    durable: str | None = None

    def origin(self) -> str:
        return f"{mask_url(self.url)} {self.subject}"


class KafkaSource(SourceBase):
    """Consume topics of another Kafka cluster (or this one)."""

    kind: Literal["kafka"] = "kafka"
    cluster: KafkaClientConfig
    topics: Annotated[list[str], Field(min_length=1)]
    group_id: str | None = None
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
    expression: Annotated[str, AfterValidator(_check_schedule)]
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    data: dict[str, Any] = Field(default_factory=dict)

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
    secret: Secret


class SlackSource(WebhookSourceBase):
    """Slack Events API, slash commands, interactivity; verified with the signing ``secret``."""

    kind: Literal["slack"] = "slack"
    secret: Secret
    tolerance_seconds: Tolerance = 300


class StripeSource(WebhookSourceBase):
    """Stripe webhooks, verified by ``Stripe-Signature`` with the endpoint ``secret``."""

    kind: Literal["stripe"] = "stripe"
    secret: Secret
    tolerance_seconds: Tolerance = 300


class FeishuSource(WebhookSourceBase):
    """Feishu / Lark event subscriptions: the app's ``verification_token`` and/or
    ``encrypt_key`` (with an encrypt key, bodies are encrypted and signed). Feishu documents
    no replay window; ``tolerance_seconds`` (null disables it) is our choice."""

    kind: Literal["feishu"] = "feishu"
    verification_token: Secret | None = None
    encrypt_key: Secret | None = None
    tolerance_seconds: Tolerance | None = 300

    @model_validator(mode="after")
    def _needs_a_secret(self) -> FeishuSource:
        if self.verification_token is None and self.encrypt_key is None:
            raise ValueError("set verification_token and/or encrypt_key")
        return self


class DingtalkSource(WebhookSourceBase):
    """DingTalk outgoing robot, verified by ``timestamp`` + ``sign`` with the AppSecret
    ``secret``; DingTalk itself allows one hour of clock skew."""

    kind: Literal["dingtalk"] = "dingtalk"
    secret: Secret
    tolerance_seconds: Tolerance = 3600


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
    token: Secret
    encoding_aes_key: Annotated[Secret, AfterValidator(_check_wecom_key)]
    corp_id: Annotated[str, Field(min_length=1)]
    tolerance_seconds: Tolerance | None = 300


class MappedWebhookSource(WebhookSourceBase):
    """A platform-agnostic webhook: where the CloudEvent attributes are in a delivery.

    ``source`` becomes ``saas.<platform>``; ``type``, ``id`` and ``subject`` come from a
    header or a dotted path into the JSON body; without an id the body's SHA-256 is used,
    so a platform retrying the same bytes still deduplicates.
    """

    platform: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
    event_type: Annotated[str, Field(min_length=1)] = "webhook"
    event_type_header: str | None = None
    event_type_field: str | None = None
    id_header: str | None = None
    id_field: str | None = None
    subject_field: str | None = None
    ip_allowlist: list[Annotated[str, AfterValidator(_check_network)]] = Field(default_factory=list)


class HmacSource(MappedWebhookSource):
    """Any SaaS that signs ``prefix + encode(HMAC(secret, body))`` into ``header``; with
    ``timestamp_header`` the signed message is ``timestamp + timestamp_separator + body``
    and a replay window applies."""

    kind: Literal["hmac"] = "hmac"
    secret: Secret
    header: Annotated[str, Field(min_length=1)] = "X-Signature"
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    timestamp_separator: str = "."
    tolerance_seconds: Tolerance = 300


class TokenSource(MappedWebhookSource):
    """SaaS that signs nothing (腾讯问卷 and other questionnaire tools): a secret token in
    the URL (``/v1/webhooks/<name>/<token>``, at least 16 characters), optional IP
    allowlist (addresses or CIDR blocks). Defaults map 腾讯问卷's envelope."""

    kind: Literal["token"] = "token"
    token: Secret
    id_field: str | None = "id"
    event_type_field: str | None = "action"

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
