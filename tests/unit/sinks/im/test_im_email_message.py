"""Email message building: subject template, plain and HTML parts, truncation."""

from __future__ import annotations

from processor.sinks.base import Delivery
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.email import EmailSink, html_to_text, render_subject

HEADERS = {
    "ce_id": "evt-1",
    "ce_type": "alarm.critical",
    "ce_source": "cloud.monitor",
    "kbridge-rule": "prod-critical",
}


def sink(**overrides: object) -> EmailSink:
    target = {
        "name": "ops-mail",
        "host": "127.0.0.1",
        "from_addr": "kbridge@example.com",
        "to": ["ops@example.com"],
        "cc": ["lead@example.com"],
        "allow_private_network": True,
        **overrides,
    }
    return EmailSink(target, clock=ManualClock())


def test_subject_placeholders_and_aliases() -> None:
    assert (
        render_subject("[{kbridge-rule}] {type} from {ce_source} {missing}", HEADERS)
        == "[prod-critical] alarm.critical from cloud.monitor"
    )


def test_subject_cannot_inject_headers() -> None:
    subject = render_subject("{subject}", {"ce_subject": "x\r\nBcc: victim@example.com"})
    assert "\n" not in subject and "\r" not in subject


def test_plain_message() -> None:
    message = sink().build("Disk full on db-1", Delivery(value=b"", headers=HEADERS))
    assert message["From"] == "kbridge@example.com"
    assert message["To"] == "ops@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message["Subject"] == "alarm.critical from cloud.monitor"
    assert message["X-Kbridge-Event-Id"] == "evt-1"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Disk full on db-1"


def test_html_message_has_both_parts() -> None:
    markup = "<h1>Disk full</h1><p>host <b>db-1</b> at 98%</p><style>p{}</style>"
    message = sink(html=True).build(markup, Delivery(value=b"", headers=HEADERS))
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == "Disk full\n\nhost db-1 at 98%"
    assert "<b>db-1</b>" in html.get_content()


def test_long_body_is_truncated_visibly() -> None:
    message = sink(max_bytes=2048).build("告" * 5000, Delivery(value=b"", headers=HEADERS))
    body = message.get_content()
    assert "[truncated by kbridge]" in body
    assert len(body.encode()) <= 2048 + 2


def test_html_to_text_keeps_lines() -> None:
    assert html_to_text("a<br>b<ul><li>c</li><li>d &amp; e</li></ul>") == "a\nb\n\nc\nd & e"
