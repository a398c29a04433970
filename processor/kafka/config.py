"""Kafka client settings as one model, rendered for both client libraries.

kbridge talks to Kafka through librdkafka (confluent-kafka: gateway, native router, sinks)
and through aiokafka (Faust). One model keeps the two in agreement; secrets are
``SecretStr`` so that :meth:`KafkaClientConfig.as_dict` is safe to log by default.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaClientConfig(BaseModel):
    """Where Kafka is and how to authenticate to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: SecretStr | None = None
    client_id: str = "kbridge"
    extra: dict[str, str] = {}

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
        """The dict to hand to confluent-kafka, with real secrets and ``overrides``."""
        conf = self.as_dict(plaintext_secrets=True)
        conf.update(overrides)
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
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            password = (
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            )
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, password)
        return context

    def faust_broker_url(self) -> str:
        """Faust's ``broker`` setting (aiokafka transport)."""
        return ";".join(f"kafka://{host}" for host in self.bootstrap_servers.split(","))
