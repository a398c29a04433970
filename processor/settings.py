"""Process settings, read from the environment (``KBRIDGE_`` prefix, ``__`` nesting).

These are per-process knobs (where Kafka is, which port serves metrics); the routing
configuration (buses, rules, targets) lives in kbridge.yaml and the ``kbridge.rules`` topic.
Nothing reads the environment at import time: call :func:`load_settings`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from processor.errors import ConfigError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.topics import RULES_TOPIC


class GatewaySettings(BaseModel):
    """HTTP gateway knobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8080
    max_event_bytes: int = 256 * 1024
    max_batch_entries: int = 10
    max_batch_bytes: int = 1024 * 1024
    auth_enabled: bool = False
    admin_api_key: SecretStr | None = None
    # Request guard (processor/gateway/guard.py, docs/operations.md#security): the body bound
    # of every endpoint, and the Host names and browser Origins accepted besides the gateway's.
    max_body_bytes: int = 1024 * 1024
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    # Backpressure (processor/gateway/flow.py): request bodies plus unacknowledged records
    # per worker process, and how long a request waits for Kafka's acknowledgements.
    max_inflight_bytes: int = 64 * 1024 * 1024
    ack_timeout: float = 5.0
    workers: int | None = None
    """Processes serving the port (``kbridge gateway --workers``); default one per core."""


class Settings(BaseSettings):
    """Everything a kbridge process needs besides kbridge.yaml."""

    model_config = SettingsConfigDict(
        env_prefix="KBRIDGE_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka: KafkaClientConfig = Field(default_factory=KafkaClientConfig)
    rules_topic: str = RULES_TOPIC
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    ready_kafka_timeout: float = Field(default=15.0, ge=0)
    """Seconds without an answer from Kafka before ``/readyz`` says not ready
    (``KBRIDGE_READY_KAFKA_TIMEOUT``; processor/observability/kafkawatch.py)."""
    replication_factor: int | None = Field(default=None, ge=1)
    """Replication factor of the topics kbridge creates (``KBRIDGE_REPLICATION_FACTOR``);
    unset means the broker's ``default.replication.factor``, so a 3-node cluster's topics
    survive a broker loss without anyone remembering to set it (issue 21 item 7)."""
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)


ENV_PREFIX = "KBRIDGE_"


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a settings field (``KBRIDGE_KAFKA__SASL_MECHANISM``)."""
    return ENV_PREFIX + "__".join(str(part) for part in loc).upper()


def describe(exc: ValidationError) -> str:
    """One line per bad variable: its name, the value given, what is allowed."""
    lines = []
    for error in exc.errors(include_url=False):
        given = error.get("input")
        shown = "" if isinstance(given, dict) else f"={given}"
        if any("password" in str(part) for part in error["loc"]):
            shown = "=**********"
        lines.append(f"{env_name(error['loc'])}{shown}: {error['msg']}")
    return "; ".join(lines)


def load_settings() -> Settings:
    """Read settings from the environment now (never at import time).

    A bad value is a :class:`ConfigError` naming the variable and the allowed values, so
    every command can print it instead of a pydantic traceback.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"bad setting: {describe(exc)}") from None
