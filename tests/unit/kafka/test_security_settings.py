"""KBRIDGE_KAFKA__* settings: any case, named in errors, the same for librdkafka and Faust."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import SecretStr

from processor.errors import ConfigError
from processor.kafka.config import LIBRDKAFKA_LOGGER, KafkaClientConfig, RepeatFilter
from processor.settings import load_settings


def test_protocol_and_mechanism_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBRIDGE_KAFKA__SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("KBRIDGE_KAFKA__SASL_MECHANISM", "scram_sha_512")
    monkeypatch.setenv("KBRIDGE_KAFKA__SASL_USERNAME", "kbridge")
    monkeypatch.setenv("KBRIDGE_KAFKA__SASL_PASSWORD", "kbridge-secret")
    kafka = load_settings().kafka
    assert kafka.security_protocol == "SASL_SSL"
    assert kafka.sasl_mechanism == "SCRAM-SHA-512"
    conf = kafka.librdkafka()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.password"] == "kbridge-secret"
    assert conf["logger"] is LIBRDKAFKA_LOGGER


def test_bad_protocol_names_the_variable_and_the_allowed_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KBRIDGE_KAFKA__SECURITY_PROTOCOL", "bogus")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.message
    assert "KBRIDGE_KAFKA__SECURITY_PROTOCOL=BOGUS" in message
    assert "'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL'" in message


def test_bad_mechanism_and_port_are_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBRIDGE_KAFKA__SASL_MECHANISM", "md5")
    monkeypatch.setenv("KBRIDGE_METRICS_PORT", "nine")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "KBRIDGE_KAFKA__SASL_MECHANISM=MD5" in info.value.message
    assert "SCRAM-SHA-512" in info.value.message
    assert "KBRIDGE_METRICS_PORT=nine" in info.value.message


def test_password_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBRIDGE_KAFKA", '{"sasl_password": 12345678}')  # not a string
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "KBRIDGE_KAFKA__SASL_PASSWORD=**********" in info.value.message
    assert "12345678" not in info.value.message


def test_faust_gets_the_same_sasl_ssl_credentials(tmp_path: Path) -> None:
    ca = _self_signed_ca(tmp_path)
    config = KafkaClientConfig(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="kbridge",
        sasl_password=SecretStr("kbridge-secret"),
        ssl_cafile=str(ca),
    )
    credentials = config.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("kbridge", "kbridge-secret")
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_faust_credentials_for_plaintext_ssl_and_sasl_plaintext() -> None:
    assert KafkaClientConfig().faust_credentials() is None
    tls = KafkaClientConfig(security_protocol="SSL").faust_credentials()
    assert isinstance(tls, SSLCredentials)
    plain = KafkaClientConfig(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
        sasl_password=SecretStr("p"),
    ).faust_credentials()
    assert isinstance(plain, SASLCredentials)
    assert plain.protocol.value == "SASL_PLAINTEXT"
    assert plain.ssl_context is None


def test_faust_refuses_sasl_without_a_usable_mechanism() -> None:
    with pytest.raises(ConfigError, match="KBRIDGE_KAFKA__SASL_MECHANISM=OAUTHBEARER"):
        KafkaClientConfig(
            security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER"
        ).faust_credentials()
    with pytest.raises(ConfigError, match=r"\(unset\).*--engine native"):
        KafkaClientConfig(security_protocol="SASL_PLAINTEXT").faust_credentials()


def test_repeated_librdkafka_lines_are_logged_once_per_window() -> None:
    flt = RepeatFilter(window=60)
    line = "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"

    def record(text: str, client: str = "kbridge#consumer-1") -> logging.LogRecord:
        # confluent-kafka's call: logger.log(level, "%s [%s] %s", fac, client name, message)
        return logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "%s [%s] %s", ("FAIL", client, text), None
        )

    kept = [flt.filter(record(f"{line} (after {ms}ms in state CONNECT)")) for ms in (0, 1, 0, 3)]
    assert kept == [True, False, False, False]
    assert flt.filter(record(line, client="kbridge#producer-2"))  # another client: kept
    own = logging.LogRecord("x", logging.INFO, __file__, 1, "config changed", None, None)
    assert flt.filter(own) and flt.filter(own)  # the logger owner's lines are never dropped
    flt.window = 0  # the window has passed: the next one says how many were dropped
    again = record(f"{line} (after 0ms in state CONNECT)")
    assert flt.filter(again)
    assert "(3 identical lines in the last 0 s)" in again.getMessage()


def _self_signed_ca(tmp: Path) -> Path:
    """A CA certificate file for ssl.create_default_context (made with the standard tool)."""
    import subprocess

    key, crt = tmp / "ca.key", tmp / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=test CA", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    return crt


def test_a_missing_ca_file_is_a_config_error_naming_the_setting() -> None:
    config = KafkaClientConfig(security_protocol="SSL", ssl_cafile="/nonexistent/ca.crt")
    with pytest.raises(ConfigError) as info:
        config.faust_credentials()
    assert "ssl_cafile /nonexistent/ca.crt: cannot load the CA (No such file or directory)" in (
        info.value.message
    )
    assert "KBRIDGE_KAFKA__SSL_CAFILE" in info.value.message
