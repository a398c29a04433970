"""Email sink against a local aiosmtpd server: plain, STARTTLS and implicit TLS, with auth."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from processor.errors import FatalError, RetriableError
from processor.sinks.base import Delivery
from processor.sinks.im.clock import ManualClock
from processor.sinks.im.email import EmailSink
from tests.support.tls import self_signed_certificate

USER, PASSWORD = "kbridge", "s3cret-pass"


@dataclass
class Mailbox:
    """What the SMTP server accepted, plus how each session was secured."""

    messages: list[tuple[Envelope, EmailMessage, bool, bool]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    reject_data: bytes = b""
    peers: list[Any] = field(default_factory=list)
    """The client address of each accepted message: one per SMTP connection."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if self.reject_data and self.reject_data in raw:
            return "554 5.7.1 message content rejected"
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        # STARTTLS records session.ssl; implicit TLS shows only on the transport.
        tls = session.ssl is not None or (
            server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None
        )
        self.messages.append((envelope, message, tls, bool(session.authenticated)))
        self.peers.append(session.peer)
        return "250 Message accepted"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # False: answer 535 on failure


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (server side) that the client trusts."""
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"), "kbridge test smtp")


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int


def run_server(**kwargs: Any) -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer(mailbox, port)
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    yield from run_server()


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from run_server(
        tls_context=server_context(certificate),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )


@pytest.fixture
def implicit_tls_server(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    # aiosmtpd only knows STARTTLS as "TLS" for AUTH; the whole session is TLS here.
    yield from run_server(
        ssl_context=server_context(certificate),
        auth_required=True,
        auth_require_tls=False,
        authenticator=authenticate,
    )


HEADERS = {"ce_id": "evt-1", "ce_type": "alarm.critical", "ce_source": "cloud.monitor"}


def event(text: str, i: int = 0) -> Delivery:
    return Delivery(value=text.encode(), headers={**HEADERS, "ce_id": f"evt-{i}"}, offset=i)


def target(server: SmtpServer, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "ops-mail",
        "host": "127.0.0.1",
        "port": server.port,
        "tls": "none",
        "from_addr": "kbridge@example.com",
        "to": ["ops@example.com", "oncall@example.com"],
        "cc": ["lead@example.com"],
        "subject": "[{type}] {source}",
        "allow_private_network": True,
        "timeout_seconds": 5,
        **overrides,
    }


async def deliver(sink: EmailSink, batch: list[Delivery]) -> list[BaseException | None]:
    await sink.setup()
    try:
        return list(await sink.deliver(batch))
    finally:
        await sink.close()


async def test_plain_smtp(plain_server: SmtpServer) -> None:
    sink = EmailSink(target(plain_server), clock=ManualClock())
    assert await deliver(sink, [event("Disk full on db-1")]) == [None]
    [(envelope, message, tls, _)] = plain_server.mailbox.messages
    assert envelope.mail_from == "kbridge@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com", "lead@example.com"]
    assert message["Subject"] == "[alarm.critical] cloud.monitor"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message["X-Kbridge-Event-Id"] == "evt-0"
    assert "Bcc" not in message
    assert message.get_content().strip() == "Disk full on db-1"
    assert tls is False


async def test_starttls_with_auth_and_html(
    starttls_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    sink = EmailSink(
        target(starttls_server, tls="starttls", username=USER, password=PASSWORD, html=True),
        clock=ManualClock(),
        tls_context=client_context(certificate),
    )
    assert await deliver(sink, [event("<h1>磁盘已满</h1><p>db-1</p>")]) == [None]
    [(_, message, tls, authenticated)] = starttls_server.mailbox.messages
    assert tls and authenticated
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    text = plain.get_content().replace("\r\n", "\n")
    assert text.strip() == "磁盘已满\n\ndb-1"
    assert "<h1>磁盘已满</h1>" in html.get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_implicit_tls_with_auth(
    implicit_tls_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    sink = EmailSink(
        target(implicit_tls_server, tls="implicit", username=USER, password=PASSWORD),
        clock=ManualClock(),
        tls_context=client_context(certificate),
    )
    assert await deliver(sink, [event("hello")]) == [None]
    [(_, _, tls, authenticated)] = implicit_tls_server.mailbox.messages
    assert tls and authenticated


async def test_wrong_password_is_fatal_and_not_logged(
    starttls_server: SmtpServer, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    sink = EmailSink(
        target(starttls_server, tls="starttls", username=USER, password="wrong-pass"),
        clock=ManualClock(),
        tls_context=client_context(certificate),
    )
    [outcome] = await deliver(sink, [event("x")])
    assert isinstance(outcome, FatalError) and outcome.code == "smtp-auth"
    assert "wrong-pass" not in caplog.text and "wrong-pass" not in str(outcome)
    assert starttls_server.mailbox.messages == []


async def test_untrusted_certificate_is_fatal(starttls_server: SmtpServer) -> None:
    sink = EmailSink(
        target(starttls_server, tls="starttls", username=USER, password=PASSWORD),
        clock=ManualClock(),
    )
    [outcome] = await deliver(sink, [event("x")])
    assert isinstance(outcome, FatalError) and outcome.code == "smtp-tls"
    assert starttls_server.mailbox.messages == []


async def test_refused_recipients(plain_server: SmtpServer) -> None:
    box = plain_server.mailbox
    box.refuse = {
        "ops@example.com": "550 no such user",
        "oncall@example.com": "550 no such user",
        "lead@example.com": "550 no such user",
    }
    sink = EmailSink(target(plain_server), clock=ManualClock())
    [outcome] = await deliver(sink, [event("x")])
    assert isinstance(outcome, FatalError) and outcome.code == "smtp-recipients"
    box.refuse = {k: "450 mailbox busy" for k in box.refuse}
    sink = EmailSink(target(plain_server), clock=ManualClock())
    [outcome] = await deliver(sink, [event("x")])
    assert type(outcome) is RetriableError


async def test_one_refused_recipient_still_delivers_to_the_others(
    plain_server: SmtpServer,
) -> None:
    plain_server.mailbox.refuse = {"oncall@example.com": "550 no such user"}
    sink = EmailSink(target(plain_server), clock=ManualClock())
    assert await deliver(sink, [event("x")]) == [None]
    [(envelope, _, _, _)] = plain_server.mailbox.messages
    assert envelope.rcpt_tos == ["ops@example.com", "lead@example.com"]


async def test_digest_email(plain_server: SmtpServer) -> None:
    clock = ManualClock(auto_advance=False)
    sink = EmailSink(
        target(plain_server, digest={"window_seconds": 300, "max_items": 2}), clock=clock
    )
    await sink.setup()
    pending = asyncio.create_task(sink.deliver([event(f"alarm {i}", i) for i in range(12)]))
    await asyncio.sleep(0.05)
    clock.advance(300)
    assert list(await pending) == [None] * 12
    await sink.close()
    [(_, message, _, _)] = plain_server.mailbox.messages
    body = message.get_content()
    assert "kbridge digest: 12 events" in body
    assert "alarm 1" in body and "alarm 2" not in body and "… and 10 more" in body


async def test_server_down_is_retriable() -> None:
    port = free_port()
    sink = EmailSink(target(SmtpServer(Mailbox(), port)), clock=ManualClock())
    [outcome] = await deliver(sink, [event("x")])
    assert type(outcome) is RetriableError and outcome.code == "smtp-connect"


async def test_a_batch_shares_one_smtp_session(
    starttls_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    sink = EmailSink(
        target(starttls_server, tls="starttls", username=USER, password=PASSWORD),
        clock=ManualClock(),
        tls_context=client_context(certificate),
    )
    await sink.setup()
    assert await sink.deliver([event(f"alarm {i}", i) for i in range(5)]) == [None] * 5
    assert await sink.deliver([event("next batch", 5)]) == [None]
    await sink.close()
    box = starttls_server.mailbox
    subjects_and_bodies = [m.get_content().strip() for _, m, _, _ in box.messages]
    assert subjects_and_bodies == [f"alarm {i}" for i in range(5)] + ["next batch"]
    # One TLS session and login for the first batch, a fresh one for the second.
    assert len(set(box.peers[:5])) == 1 and box.peers[5] != box.peers[0]


async def test_a_failed_item_reconnects_for_the_next(plain_server: SmtpServer) -> None:
    box = plain_server.mailbox
    box.reject_data = b"forbidden words"
    sink = EmailSink(target(plain_server), clock=ManualClock())
    await sink.setup()
    outcomes = await sink.deliver(
        [event("fine", 0), event("forbidden words", 1), event("fine again", 2)]
    )
    await sink.close()
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], FatalError) and outcomes[1].code == "smtp-554"
    assert [m.get_content().strip() for _, m, _, _ in box.messages] == ["fine", "fine again"]
    assert box.peers[0] != box.peers[1]  # a new session after the failure
