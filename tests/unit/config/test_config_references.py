"""Run-time secret references (issue 22 item 7): ``${env:VAR}`` and ``${file:/path}``.

The configuration topic must hold the reference, never the secret; the process that opens
the connection resolves it from its own environment or a mounted file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import processor.sinks.kinds  # noqa: F401  (fills the registry)
from processor.config.loader import load_configs
from processor.config.records import decode_object, encode_object, kind_of
from processor.config.references import resolve_model, resolve_text
from processor.config.targets import MysqlTarget, WebhookTarget
from processor.errors import ConfigError
from processor.sinks.base import Delivery, build_sink
from processor.sinks.http import signing
from processor.sinks.webhook import WebhookSink


def test_env_and_file_references_resolve(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t\n")  # the newline `echo` and editors add is not part of it
    text = f"a=${{env:A}} b=${{file:{secret}}} literal=$${{env:A}}"
    assert resolve_text(text, where="x", env={"A": "1"}) == "a=1 b=s3cr3t literal=${env:A}"


def test_a_missing_reference_names_the_field_not_a_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing_env:
        resolve_text("${env:NOPE}", where="targets[hook].secret", env={})
    assert str(missing_env.value) == (
        "targets[hook].secret: environment variable NOPE (referenced as ${env:NOPE}) "
        "is not set in this process"
    )
    with pytest.raises(ConfigError, match=r"cannot read the secret file .*/absent"):
        resolve_text(f"${{file:{tmp_path / 'absent'}}}", where="t", env={})


def test_the_config_topic_keeps_the_reference_and_the_sink_gets_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kbridge.yaml"
    config.write_text(
        "buses: [{name: b}]\n"
        "targets:\n"
        "  - name: hook\n"
        "    kind: webhook\n"
        "    url: https://hooks.example.com/in?token=${env:HOOK_TOKEN}\n"
        "    secret: ${env:HOOK_SECRET}\n"
    )
    loaded = load_configs([str(config)], env={})  # no value needed at load or apply time
    target = next(t for t in loaded.targets if t.name == "hook")
    stored = encode_object(target)
    assert b"${env:HOOK_SECRET}" in stored and b"${env:HOOK_TOKEN}" in stored

    monkeypatch.setenv("HOOK_SECRET", "the-signing-secret")
    monkeypatch.setenv("HOOK_TOKEN", "abc123")
    decoded = decode_object(kind_of(target), stored)
    resolved = resolve_model(decoded)
    assert isinstance(resolved, WebhookTarget)
    assert resolved.url == "https://hooks.example.com/in?token=abc123"
    assert resolved.secret is not None
    assert resolved.secret.get_secret_value() == "the-signing-secret"
    assert b"the-signing-secret" not in encode_object(decoded)

    sink = build_sink("webhook", decoded)  # the worker's path: resolved when built
    assert isinstance(sink, WebhookSink)
    assert sink.url == "https://hooks.example.com/in?token=abc123"
    item = Delivery(value=b'{"a":1}', headers={"ce_id": "e-1", "content-type": "application/json"})
    headers, payload = sink.request_parts(item, {}, now=1_700_000_000)
    # the signature is made with the resolved secret, as a receiver holding it verifies
    assert headers[signing.HEADER] == signing.sign("the-signing-secret", payload, 1_700_000_000)


def test_a_model_without_references_is_returned_as_is() -> None:
    target = WebhookTarget(name="plain", url="https://x.example")
    assert resolve_model(target) is target


def test_a_resolved_value_is_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    target = MysqlTarget(name="db", url="${env:DB_URL}://placeholder", table="t")
    monkeypatch.setenv("DB_URL", "")  # resolves to "://placeholder": no scheme
    with pytest.raises(ConfigError, match=r"db\.url: the value a run-time reference resolved to"):
        resolve_model(target)
