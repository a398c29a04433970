"""Kafka client settings as one model, rendered for both client libraries.

kbridge talks to Kafka through librdkafka (confluent-kafka: gateway, native router, sinks)
and through aiokafka (Faust). One model keeps the two in agreement; secrets are
``SecretStr`` so that :meth:`KafkaClientConfig.as_dict` is safe to log by default.

Every process builds its clients from this model (``KBRIDGE_KAFKA__*`` in
:mod:`processor.settings`), so a secured cluster needs the settings once, not per command.
Protocol and mechanism names are case-insensitive (``sasl_ssl`` is ``SASL_SSL``).
librdkafka's own log lines go to the ``processor.kafka.librdkafka`` logger (the ``logger``
client property) instead of raw stderr, so they share kbridge's format and level.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from processor.errors import ConfigError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

LIBRDKAFKA_LOGGER = logging.getLogger("processor.kafka.librdkafka")
"""Where librdkafka's log lines go (the clients hand them over on poll/flush)."""


class RepeatFilter(logging.Filter):
    """Drop a line identical to one logged less than ``window`` seconds ago.

    A client that cannot connect retries many times a second and librdkafka logs every
    attempt; one line per cause and window (with the count dropped since) is enough.
    Only librdkafka's lines are filtered, so it may sit on any logger given as ``logger``.
    """

    def __init__(self, window: float = 30.0) -> None:
        super().__init__()
        self.window = window
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    VARYING = re.compile(r" \(after \d+ms in state \w+\)")
    """The part of a line that differs between identical failures."""

    LIBRDKAFKA_FORMAT = "%s [%s] %s"
    """How confluent-kafka hands a line to a Python logger (facility, client, message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != self.LIBRDKAFKA_FORMAT:
            return True  # a line of the logger's owner, not librdkafka's: never dropped
        key = self.VARYING.sub("", record.getMessage())
        now = time.monotonic()
        with self._lock:
            last, dropped = self._seen.get(key, (float("-inf"), 0))
            if now - last < self.window:
                self._seen[key] = (last, dropped + 1)
                return False
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if dropped:
            record.msg = f"{key} ({dropped} identical lines in the last {self.window:.0f} s)"
            record.args = ()
        return True


def quiet_repeats(logger: logging.Logger) -> logging.Logger:
    """Give a logger that receives librdkafka's lines a :class:`RepeatFilter` (once)."""
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger


quiet_repeats(LIBRDKAFKA_LOGGER)


class KafkaClientConfig(BaseModel):
    """Where Kafka is and how to authenticate to it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated `host:port` list."""
    security_protocol: SecurityProtocol = "PLAINTEXT"
    """Kafka security protocol."""
    sasl_mechanism: SaslMechanism | None = None
    """SASL mechanism."""
    sasl_username: str | None = None
    """SASL user."""
    sasl_password: SecretStr | None = None
    """SASL password."""
    ssl_cafile: str | None = None
    """CA certificate file."""
    ssl_certfile: str | None = None
    """Client certificate file."""
    ssl_keyfile: str | None = None
    """Client key file."""
    ssl_key_password: SecretStr | None = None
    """Client key password."""
    client_id: str = "kbridge"
    """Kafka client id."""
    extra: dict[str, str] = {}
    """Extra librdkafka properties (`{"linger.ms": "5"}`)."""

    @field_validator("security_protocol", mode="before")
    @classmethod
    def _protocol_any_case(cls, value: object) -> object:
        """Kafka's own clients accept ``sasl_ssl``; so do we."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("sasl_mechanism", mode="before")
    @classmethod
    def _mechanism_any_case(cls, value: object) -> object:
        """``scram-sha-512`` and ``scram_sha_512`` both mean ``SCRAM-SHA-512``."""
        if not isinstance(value, str):
            return value
        return value.strip().upper().replace("_", "-") or None

    def as_dict(self, *, plaintext_secrets: bool = False) -> dict[str, Any]:
        """The librdkafka dict; secrets masked unless ``plaintext_secrets``."""

        def secret(value: SecretStr | None) -> str | None:
            if value is None:
                return None
            return value.get_secret_value() if plaintext_secrets else "**********"

        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        optional: dict[str, Any] = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": secret(self.sasl_password),
            "ssl.ca.location": self.ssl_cafile,
            "ssl.certificate.location": self.ssl_certfile,
            "ssl.key.location": self.ssl_keyfile,
            "ssl.key.password": secret(self.ssl_key_password),
        }
        conf.update({k: v for k, v in optional.items() if v is not None})
        conf.update(self.extra)
        return conf

    def librdkafka(self, **overrides: Any) -> dict[str, Any]:
        """The dict to hand to confluent-kafka, with real secrets and ``overrides``.

        Includes ``logger``: librdkafka's lines then reach Python logging in kbridge's format.
        """
        conf = self.as_dict(plaintext_secrets=True)
        conf["logger"] = LIBRDKAFKA_LOGGER
        conf.update(overrides)
        if isinstance(conf["logger"], logging.Logger):  # a caller's own logger: same dedup
            quiet_repeats(conf["logger"])
        return conf

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (what Faust's transport uses)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
            "client_id": self.client_id,
        }
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context built from the certificate files, for aiokafka and Faust."""
        try:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"ssl_cafile {self.ssl_cafile}: cannot load the CA ({exc.strerror or exc}); "
                "check KBRIDGE_KAFKA__SSL_CAFILE (or the cluster's ssl_cafile in kbridge.yaml)"
            ) from None
        if self.ssl_certfile:
            password = (
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            )
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, password)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"ssl_certfile {self.ssl_certfile}: cannot load the client certificate "
                    f"({exc.strerror or exc}); check KBRIDGE_KAFKA__SSL_CERTFILE, "
                    "KBRIDGE_KAFKA__SSL_KEYFILE and KBRIDGE_KAFKA__SSL_KEY_PASSWORD"
                ) from None
        return context

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials``: the same security settings for its aiokafka clients.

        ``None`` for PLAINTEXT. Faust has no OAUTHBEARER token provider of ours, so that
        mechanism is refused here with a clear message rather than failing inside aiokafka.
        """
        from faust.auth import SASLCredentials, SSLCredentials

        if self.security_protocol == "PLAINTEXT":
            return None
        if self.security_protocol == "SSL":
            return SSLCredentials(self.ssl_context())
        if self.sasl_mechanism in (None, "OAUTHBEARER"):
            raise ConfigError(
                f"KBRIDGE_KAFKA__SASL_MECHANISM={self.sasl_mechanism or '(unset)'}: the faust "
                f"router engine needs PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with "
                f"{self.security_protocol} (or use --engine native)"
            )
        password = self.sasl_password.get_secret_value() if self.sasl_password else None
        context = self.ssl_context() if self.security_protocol == "SASL_SSL" else None
        return SASLCredentials(
            username=self.sasl_username,
            password=password,
            ssl_context=context,
            mechanism=self.sasl_mechanism,
        )

    def faust_broker_url(self) -> str:
        """Faust's ``broker`` setting (aiokafka transport)."""
        return ";".join(f"kafka://{host}" for host in self.bootstrap_servers.split(","))
