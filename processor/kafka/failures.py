"""Turn confluent-kafka's exceptions into sentences a user can act on.

A command that cannot reach Kafka (or whose credentials are refused) should say where it
tried, how, and which settings to check, not print ``KafkaError{code=_TRANSPORT,...}`` and a
traceback. The CLI's top-level handler and the start-up checks use :func:`explain`.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException, Producer

from processor.kafka.config import KafkaClientConfig

AUTH_CODES = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }
)
SSL_CODES = frozenset({KafkaError._SSL})
VAGUE_CODES = frozenset(
    {KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN,
     KafkaError._MSG_TIMED_OUT}
)


def _how(config: KafkaClientConfig) -> str:
    parts: list[str] = [config.security_protocol]
    if config.security_protocol.startswith("SASL"):
        parts.append(f"{config.sasl_mechanism or '(no KBRIDGE_KAFKA__SASL_MECHANISM)'}")
        parts.append(f"user {config.sasl_username or '(no KBRIDGE_KAFKA__SASL_USERNAME)'}")
    if config.security_protocol.endswith("SSL") and config.ssl_cafile:
        parts.append(f"CA {config.ssl_cafile}")
    return ", ".join(parts)


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The ``KafkaError`` inside ``exc``, if it carries one."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def probe(config: KafkaClientConfig, timeout: float = 3.0) -> KafkaError | None:
    """Connect once and return the first client error (refused, TLS, SASL), if any.

    Metadata calls such as ``list_topics`` only say "Broker transport failure"; the reason
    (connection refused, wrong password, TLS handshake) reaches the client's error callback,
    which fires only while the client is polled. So: a throw-away producer, polled for at
    most ``timeout`` seconds.
    """
    errors: list[KafkaError] = []
    producer = Producer(config.librdkafka(error_cb=errors.append))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not errors:
        producer.poll(0.1)
        if not errors and _answers(producer):
            return None
    for error in errors:  # the specific cause rather than "all brokers are down"
        if error.code() != KafkaError._ALL_BROKERS_DOWN:
            return error
    return errors[0] if errors else None


REFUSAL_CODES = AUTH_CODES | SSL_CODES | {KafkaError._INVALID_ARG}
"""Errors that waiting does not cure: credentials, TLS trust, client settings."""


def refusal(config: KafkaClientConfig, timeout: float = 3.0) -> KafkaError | None:
    """The brokers' refusal of this client (:data:`REFUSAL_CODES`), found by :func:`probe`;
    ``None`` when they answer or are merely unreachable (which may pass)."""
    error = probe(config, timeout)
    return error if error is not None and error.code() in REFUSAL_CODES else None


def with_cause(message: str, error: KafkaError, config: KafkaClientConfig) -> str:
    """``message`` with a second line saying why (``error`` :func:`explain`-ed), the shape
    every command prints when Kafka refused or did not answer."""
    return f"{message}\n  cause: {explain(KafkaException(error), config, probe_timeout=0)}"


def _answers(producer: Producer) -> bool:
    try:
        return bool(producer.list_topics(timeout=0.1).brokers)
    except KafkaException:
        return False


def explain(exc: BaseException, config: KafkaClientConfig, *, probe_timeout: float = 3.0) -> str:
    """One or two lines: what failed, against which brokers, which settings to check.

    A vague error ("Broker transport failure", a timeout) is replaced by the cause a short
    :func:`probe` finds, so a wrong password reads as an authentication error.
    """
    error = kafka_error(exc)
    if error is None or error.code() in VAGUE_CODES:
        error = (probe(config, probe_timeout) if probe_timeout > 0 else None) or error
    reason = error.str() if error is not None else str(exc)
    where = f"Kafka at {config.bootstrap_servers} ({_how(config)})"
    code = error.code() if error is not None else None
    if code in AUTH_CODES:
        return (
            f"{where} refused the credentials: {reason}. Check KBRIDGE_KAFKA__SASL_USERNAME, "
            f"KBRIDGE_KAFKA__SASL_PASSWORD and KBRIDGE_KAFKA__SASL_MECHANISM."
        )
    if code == KafkaError._INVALID_ARG:  # librdkafka refused a property (a missing CA file...)
        return (
            f"{where}: the Kafka client settings were refused: {reason}. Check the "
            f"KBRIDGE_KAFKA__* settings (ssl.ca.location is KBRIDGE_KAFKA__SSL_CAFILE)."
        )
    if code in SSL_CODES or "ssl" in reason.lower():
        return (
            f"{where}: TLS failed: {reason}. Check KBRIDGE_KAFKA__SSL_CAFILE and "
            f"KBRIDGE_KAFKA__SECURITY_PROTOCOL."
        )
    return (
        f"{where} did not answer: {reason}. Check that the broker runs and "
        f"KBRIDGE_KAFKA__BOOTSTRAP_SERVERS / KBRIDGE_KAFKA__SECURITY_PROTOCOL."
    )
