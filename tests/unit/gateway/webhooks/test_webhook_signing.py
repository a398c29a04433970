"""Shared primitives: constant-time comparison, replay windows, AES unpadding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processor.gateway.webhooks.aes import aes_cbc_decrypt, pkcs7_unpad
from processor.gateway.webhooks.base import (
    WebhookAuthError,
    WebhookPayloadError,
    WebhookReplayError,
    epoch_time,
)
from processor.gateway.webhooks.signing import (
    check_window,
    constant_eq,
    encode_digest,
    hmac_digest,
    parse_timestamp,
    require_match,
)


def test_constant_eq_compares_exactly() -> None:
    assert constant_eq("abc", "abc")
    assert constant_eq(b"abc", "abc")
    assert not constant_eq("abc", "abd")
    assert not constant_eq("abc", "abcd")
    assert constant_eq("签名", "签名")


def test_require_match_names_what_failed() -> None:
    require_match("x", "x")
    with pytest.raises(WebhookAuthError, match="X-Sig does not match"):
        require_match("x", "y", "X-Sig")


def test_window_accepts_inside_and_rejects_both_directions() -> None:
    check_window(1000.0, 1300.0, 300)
    check_window(1300.0, 1000.0, 300)
    with pytest.raises(WebhookReplayError, match="replay"):
        check_window(1000.0, 1301.0, 300)
    with pytest.raises(WebhookReplayError, match="replay"):
        check_window(1400.0, 1000.0, 300)


def test_window_none_disables_the_check() -> None:
    check_window(0.0, 1e10, None)


def test_replay_error_is_an_auth_error_with_status_401() -> None:
    assert issubclass(WebhookReplayError, WebhookAuthError)
    assert WebhookReplayError("x").status == 401
    assert WebhookReplayError("x").code == "replay"


@pytest.mark.parametrize("raw", ["abc", "", "nan", "inf", "1e400"])
def test_parse_timestamp_rejects_non_numbers(raw: str) -> None:
    with pytest.raises(WebhookAuthError):
        parse_timestamp(raw)


def test_parse_timestamp_reads_integers_and_spaces() -> None:
    assert parse_timestamp(" 1531420618 ") == 1531420618.0


def test_encode_digest_hex_and_base64() -> None:
    digest = hmac_digest(b"k", b"m")
    assert encode_digest(digest, "hex") == digest.hex()
    assert encode_digest(b"\xff\x00", "base64") == "/wA="


def test_pkcs7_unpad_respects_the_block_size() -> None:
    data = b"x" * 2 + bytes([30]) * 30
    assert pkcs7_unpad(data, 32) == b"xx"
    with pytest.raises(WebhookPayloadError, match="padding"):
        pkcs7_unpad(data, 16)


@pytest.mark.parametrize("data", [b"", b"abc", b"x" * 15 + b"\x00", b"x" * 14 + b"\x01\x02"])
def test_pkcs7_unpad_rejects_bad_padding(data: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        pkcs7_unpad(data, 16)


def test_aes_decrypt_rejects_partial_blocks() -> None:
    with pytest.raises(WebhookPayloadError, match="length"):
        aes_cbc_decrypt(b"k" * 32, b"i" * 16, b"x" * 17, 16)


def test_epoch_time_tolerates_bogus_values() -> None:
    assert epoch_time(1700000000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert epoch_time("1608725989000", millis=True) == datetime(
        2020, 12, 23, 12, 19, 49, tzinfo=UTC
    )
    for bogus in (10**20, -(10**20), "²", "١٢", "12a", True, None, 1.5, "-5"):
        assert epoch_time(bogus) is None
