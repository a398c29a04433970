"""Signers against the vectors in platforms.md."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from processor.sinks.im import dingtalk, feishu


def test_dingtalk_sign_matches_platforms_vector() -> None:
    assert (
        dingtalk.sign("this is secret", 1577262236757)
        == "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"
    )


def test_dingtalk_signed_url_carries_timestamp_and_decodable_sign() -> None:
    url = dingtalk.signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=T", "this is secret", 1577262236757
    )
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "access_token": ["T"],
        "timestamp": ["1577262236757"],
        "sign": ["hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="],
    }


def test_dingtalk_signed_url_without_query_starts_one() -> None:
    url = dingtalk.signed_url("https://example.com/robot", "s", 1)
    assert url.startswith("https://example.com/robot?timestamp=1&sign=")


def test_feishu_sign_matches_platforms_vector() -> None:
    assert feishu.sign("demo", 1599360473) == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="


def test_feishu_sign_is_not_the_dingtalk_layout() -> None:
    # The common bug: HMAC keyed by the secret over "ts\nsecret" gives this value instead.
    assert feishu.sign("demo", 1599360473) != "DkEDUyVoOOJ539qBvUgMyzkzIdRWlf4e/V3Rq+ONJnQ="
