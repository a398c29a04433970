"""Sources: where events come from, one model per ``kind``; each publishes to one ``bus``.

Broker sources (``mqtt``, ``amqp``, ``nats``, ``kafka``) and ``schedule`` run under
``kbridge source <name>``; webhook kinds (``github``, ``slack``, ``stripe``, ``feishu``,
``dingtalk``, ``hmac``, ``token``) are served by the gateway at ``/webhooks/<name>``. The
engineers building sources and webhooks refine their kind's class here.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from processor.config._base import ConfigModel, Description, Name, Secret, mask_url
from processor.kafka.config import KafkaClientConfig

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")


def check_schedule_expression(value: str) -> str:
    """Accept EventBridge Scheduler syntax: ``rate(5 minutes)`` or ``cron(0 12 * * ? *)``."""
    rate = _RATE.match(value)
    if rate is not None:
        if int(rate.group(1)) < 1:
            raise ValueError("a rate must be at least 1")
        return value
    cron = _CRON.match(value)
    if cron is not None:
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise ValueError(
                "a cron expression has 6 fields: minutes hours day-of-month month "
                f"day-of-week year (got {len(fields)})"
            )
        return value
    raise ValueError("must be rate(<n> minutes|hours|days) or cron(<6 fields>)")


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


class _SourceBase(ConfigModel):
    name: Name
    bus: Name
    description: Description = ""

    def origin(self) -> str:
        """Where this source listens or reads, safe to print."""
        return ""


class MqttSource(_SourceBase):
    """Subscribe to MQTT topic filters (``sensors/#``)."""

    kind: Literal["mqtt"] = "mqtt"
    url: str
    topics: Annotated[list[str], Field(min_length=1)]
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None

    def origin(self) -> str:
        return f"{mask_url(self.url)} {' '.join(self.topics)}"


class AmqpSource(_SourceBase):
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


class NatsSource(_SourceBase):
    """Subscribe to a NATS subject (JetStream when ``stream`` is set)."""

    kind: Literal["nats"] = "nats"
    url: str
    subject: Annotated[str, Field(min_length=1)]
    stream: str | None = None
    durable: str | None = None

    def origin(self) -> str:
        return f"{mask_url(self.url)} {self.subject}"


class KafkaSource(_SourceBase):
    """Consume topics of another Kafka cluster (or this one)."""

    kind: Literal["kafka"] = "kafka"
    cluster: KafkaClientConfig
    topics: Annotated[list[str], Field(min_length=1)]
    group_id: str | None = None

    def origin(self) -> str:
        return f"{self.cluster.bootstrap_servers} {' '.join(self.topics)}"


class ScheduleSource(_SourceBase):
    """Emit an event on a schedule; ``data`` becomes the event's data."""

    kind: Literal["schedule"] = "schedule"
    expression: Annotated[str, AfterValidator(check_schedule_expression)]
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    data: dict[str, Any] = Field(default_factory=dict)

    def origin(self) -> str:
        return f"{self.expression} {self.timezone}"


class _WebhookSourceBase(_SourceBase):
    def origin(self) -> str:
        return f"/webhooks/{self.name}"


class GithubSource(_WebhookSourceBase):
    """GitHub webhooks, verified by ``X-Hub-Signature-256`` with ``secret``."""

    kind: Literal["github"] = "github"
    secret: Secret


class SlackSource(_WebhookSourceBase):
    """Slack Events API, verified with the app's signing ``secret``."""

    kind: Literal["slack"] = "slack"
    secret: Secret
    tolerance_seconds: Annotated[int, Field(ge=1, le=86400)] = 300


class StripeSource(_WebhookSourceBase):
    """Stripe webhooks, verified by ``Stripe-Signature`` with the endpoint ``secret``."""

    kind: Literal["stripe"] = "stripe"
    secret: Secret
    tolerance_seconds: Annotated[int, Field(ge=1, le=86400)] = 300


class FeishuSource(_WebhookSourceBase):
    """Feishu / Lark event subscriptions, verified with ``secret``."""

    kind: Literal["feishu"] = "feishu"
    secret: Secret
    tolerance_seconds: Annotated[int, Field(ge=1, le=86400)] = 300


class DingtalkSource(_WebhookSourceBase):
    """DingTalk outgoing robot / event callbacks, verified with ``secret``."""

    kind: Literal["dingtalk"] = "dingtalk"
    secret: Secret
    tolerance_seconds: Annotated[int, Field(ge=1, le=86400)] = 300


class HmacSource(_WebhookSourceBase):
    """Any SaaS that signs its body with an HMAC in a header (``prefix`` + hex digest)."""

    kind: Literal["hmac"] = "hmac"
    header: Annotated[str, Field(min_length=1)]
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    prefix: str = ""
    secret: Secret


class TokenSource(_WebhookSourceBase):
    """SaaS that signs nothing (questionnaire tools): a secret token in the URL, optional
    IP allowlist (addresses or CIDR blocks)."""

    kind: Literal["token"] = "token"
    token: Secret
    ip_allowlist: list[Annotated[str, AfterValidator(_check_network)]] = Field(default_factory=list)


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
    | HmacSource
    | TokenSource
)
Source = Annotated[AnySource, Field(discriminator="kind")]
"""Any source kind, chosen by its ``kind`` field."""

WEBHOOK_SOURCE_KINDS: frozenset[str] = frozenset(
    {"github", "slack", "stripe", "feishu", "dingtalk", "hmac", "token"}
)
