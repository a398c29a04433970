"""Process settings, read from the environment (``KBRIDGE_`` prefix, ``__`` nesting).

These are per-process knobs (where Kafka is, which port serves metrics); the routing
configuration (buses, rules, targets) lives in kbridge.yaml and the ``kbridge.rules`` topic.
Nothing reads the environment at import time: call :func:`load_settings`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    replication_factor: int = 1
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)


def load_settings() -> Settings:
    """Read settings from the environment now (never at import time)."""
    return Settings()
