"""WeCom callbacks: Tencent's official URL-verification and message vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from webhook_helpers import wecom_encrypt

from processor.config.sources import WecomSource
from processor.gateway.webhooks import (
    WebhookAuthError,
    WebhookPayloadError,
    WebhookReplayError,
    WebhookRequest,
)
from processor.gateway.webhooks.aes import pkcs7_unpad
from processor.gateway.webhooks.wecom import (
    WecomConnector,
    parse_xml,
    wecom_decrypt,
    wecom_signature,
)

CORP = "wx5823bf96d3bd56c7"
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

ECHO_SIG = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
ECHO_TS, ECHO_NONCE = "1409659589", "263014780"
ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
MSG_SIG = "477715d11cdb4164915debcba66cb864d751f3e6"
MSG_TS, MSG_NONCE = "1409659813", "1372623149"
ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
    "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
    "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
    "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
    "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
    "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
BODY = (
    f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
    f"<Encrypt><![CDATA[{ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
).encode()


def connector(corp: str = CORP, tolerance: int | None = 300) -> WecomConnector:
    return WecomConnector(
        WecomSource(
            name="wecom",
            bus="saas",
            token=TOKEN,
            encoding_aes_key=AES_KEY,
            corp_id=corp,
            tolerance_seconds=tolerance,
        )
    )


def echo_request(echostr: str = ECHOSTR, sig: str = ECHO_SIG) -> WebhookRequest:
    query = {"msg_signature": sig, "timestamp": ECHO_TS, "nonce": ECHO_NONCE, "echostr": echostr}
    return WebhookRequest.build(b"", query=query, method="GET")


def message_request(body: bytes = BODY, sig: str = MSG_SIG) -> WebhookRequest:
    query = {"msg_signature": sig, "timestamp": MSG_TS, "nonce": MSG_NONCE}
    return WebhookRequest.build(body, query=query)


def test_official_url_verification_vector() -> None:
    assert wecom_signature(TOKEN, ECHO_TS, ECHO_NONCE, ECHOSTR) == ECHO_SIG
    assert wecom_decrypt(AES_KEY, ECHOSTR, CORP) == b"1616140317555161061"
    request = echo_request()
    connector().verify(request, float(ECHO_TS))
    answer = connector().handshake(request)
    assert answer is not None
    assert answer.body == b"1616140317555161061"
    assert answer.media_type == "text/plain"


def test_echostr_whose_plus_signs_became_spaces() -> None:
    request = echo_request(ECHOSTR.replace("+", " "))
    connector().verify(request, float(ECHO_TS))
    answer = connector().handshake(request)
    assert answer is not None and answer.body == b"1616140317555161061"


def test_official_message_vector() -> None:
    assert wecom_signature(TOKEN, MSG_TS, MSG_NONCE, ENCRYPT) == MSG_SIG
    request = message_request()
    connector().verify(request, float(MSG_TS))
    assert connector().handshake(request) is None
    [event] = connector().to_events(request)
    assert event.source == "saas.wecom"
    assert event.type == "text"
    assert event.id == "4561255354251345929"
    assert event.subject == "mycreate"
    assert event.time == "2014-09-02T12:10:13Z"
    assert event.data["Content"] == "hello"
    assert event.data["AgentID"] == "218"


def test_official_message_needs_32_byte_unpadding() -> None:
    # The vector's pad byte is 30: a 16-byte PKCS#7 unpad (Feishu's) would reject it.
    with pytest.raises(WebhookPayloadError):
        pkcs7_unpad(b"x" * 2 + bytes([30]) * 30, 16)
    assert wecom_decrypt(AES_KEY, ENCRYPT, CORP).endswith(b"</xml>")


def test_wrong_signature_and_missing_parameters() -> None:
    with pytest.raises(WebhookAuthError, match="msg_signature"):
        connector().verify(message_request(sig="0" * 40), float(MSG_TS))
    with pytest.raises(WebhookAuthError, match="missing query parameter timestamp"):
        connector().verify(WebhookRequest.build(BODY, query={"msg_signature": MSG_SIG}), 0.0)


def test_stale_timestamp_is_a_replay() -> None:
    with pytest.raises(WebhookReplayError, match="replay"):
        connector().verify(message_request(), float(MSG_TS) + 301)
    connector(tolerance=None).verify(message_request(), float(MSG_TS) + 10**6)


def test_receiveid_must_be_the_corp_id() -> None:
    with pytest.raises(WebhookAuthError, match="corp_id"):
        connector(corp="wx0000000000000000").to_events(message_request())


def test_event_without_msgid_gets_a_stable_id() -> None:
    inner = (
        b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        b"<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1409659813</CreateTime>"
        b"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event>"
        b"<AgentID>1</AgentID></xml>"
    )
    body_a = f"<xml><Encrypt>{wecom_encrypt(AES_KEY, inner, CORP)}</Encrypt></xml>".encode()
    body_b = f"<xml><Encrypt>{wecom_encrypt(AES_KEY, inner, CORP)}</Encrypt></xml>".encode()
    assert body_a != body_b  # random prefix: the ciphertext differs on every retry
    [a] = connector().to_events(message_request(body_a))
    [b] = connector().to_events(message_request(body_b))
    assert a.type == "enter_agent"
    assert a.id == b.id


def test_acknowledgement_is_an_empty_body() -> None:
    answer = connector().acknowledge([])
    assert answer.body == b""


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<xml><ToUserName>x</ToUserName></xml>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        connector().verify(message_request(body), float(MSG_TS))


def test_parse_xml_flattens_children() -> None:
    assert parse_xml(b"<xml><A><![CDATA[1]]></A><B/></xml>") == {"A": "1", "B": ""}


def test_encoding_aes_key_is_validated() -> None:
    with pytest.raises(ValidationError, match="EncodingAESKey"):
        WecomSource(name="w", bus="b", token="t", encoding_aes_key="short", corp_id=CORP)


@settings(max_examples=150, deadline=None)
@given(
    inner=st.one_of(
        st.binary(max_size=120),
        st.builds(
            lambda tags: (
                "<xml>" + "".join(f"<{t}>{v}</{t}>" for t, v in tags.items()) + "</xml>"
            ).encode(),
            st.dictionaries(
                st.sampled_from(["MsgType", "Event", "MsgId", "CreateTime", "FromUserName"]),
                st.text(st.characters(min_codepoint=48, max_codepoint=122), max_size=12),
            ),
        ),
    )
)
def test_authentic_arbitrary_messages_map_or_are_malformed(inner: bytes) -> None:
    encrypted = wecom_encrypt(AES_KEY, inner, CORP)
    body = f"<xml><Encrypt>{encrypted}</Encrypt></xml>".encode()
    sig = wecom_signature(TOKEN, MSG_TS, MSG_NONCE, encrypted)
    request = message_request(body, sig)
    connector().verify(request, float(MSG_TS))
    try:
        [event] = connector().to_events(request)
    except WebhookPayloadError:
        return
    assert event.source == "saas.wecom"
    assert event.type
