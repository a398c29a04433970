"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS or plain; auth; plain and HTML parts.

Each event becomes one message from ``from_addr`` to ``to`` and ``cc``. Its body is the
event's transformed text; with ``html: true`` that text is HTML, sent as the HTML part of a
``multipart/alternative`` message with a tag-stripped plain-text part beside it, so every mail
client shows something readable. The subject is a template whose ``{placeholders}`` name
egress headers (``{ce_type}``, ``{ce_source}``, ``{ce_subject}``, ``{ce_id}``, ``{ce_time}``,
``{kbridge-rule}``) or the short aliases ``{type}``, ``{source}``, ``{subject}``, ``{id}``,
``{time}``, ``{rule}``; unknown placeholders render empty, and line breaks are removed (no
header injection).

Each batch shares one SMTP session (connect, STARTTLS, login once), closed with QUIT after
the batch and reopened after any failure, whose session state would be unknown.

SMTP replies map by class: 4xx (and connection trouble) are retriable, 421 and 452 are
backpressure, 5xx, failed authentication and an untrusted certificate are not retriable.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import socket
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html.parser import HTMLParser
from typing import Any

import aiosmtplib

from processor.clock import Clock
from processor.errors import BackpressureError, FatalError, KbridgeError, RetriableError
from processor.kafka.headers import RULE
from processor.netguard import checked_addresses
from processor.sinks.base import Delivery, register_sink
from processor.sinks.http.ratelimit import Window
from processor.sinks.im.base import ImSink
from processor.sinks.im.config import EmailTarget, coerce_target
from processor.sinks.im.digest import delivery_text
from processor.sinks.im.textlimit import truncate, utf8_len

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")
_ALIASES = {
    "id": "ce_id",
    "source": "ce_source",
    "type": "ce_type",
    "subject": "ce_subject",
    "time": "ce_time",
    "rule": RULE,
}


def render_subject(template: str, headers: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders from ``headers``; never more than one line."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return headers.get(name, headers.get(_ALIASES.get(name, ""), ""))

    subject = _PLACEHOLDER.sub(value, template)
    return " ".join(subject.split())[:250]


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})
    _BREAKS = _BLOCKS | {"br", "li", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """A readable plain-text rendering of ``markup`` for the text/plain part."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def error_for(exc: Exception) -> KbridgeError:
    """The typed error for an aiosmtplib (or socket/TLS) failure."""
    name = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return FatalError(f"SMTP authentication failed ({exc.code})", code="smtp-auth")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        retriable = any(400 <= c < 500 for c in codes)
        message = f"SMTP refused every recipient: {', '.join(str(c) for c in codes)}"
        code = "smtp-recipients"
        return RetriableError(message, code=code) if retriable else FatalError(message, code=code)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return FatalError(f"SMTP server does not support it: {exc}", code="smtp-unsupported")
    if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(
        exc, aiosmtplib.SMTPServerDisconnected
    ):
        message = f"SMTP {exc.code}: {exc.message}"
        code = f"smtp-{exc.code}"
        if exc.code == 421 or exc.code == 452:  # service busy / too much mail: slow down
            return BackpressureError(message, retry_after=60.0, code=code)
        if 400 <= exc.code < 500:
            return RetriableError(message, code=code)
        return FatalError(message, code=code)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FatalError(f"SMTP TLS certificate rejected: {exc}", code="smtp-tls")
    return RetriableError(f"SMTP delivery failed ({name}: {exc})", code="smtp-connect")


@register_sink("email")
class EmailSink(ImSink):
    """Sends each event (or each digest) as one email."""

    def __init__(
        self,
        target: Any,
        *,
        clock: Clock | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = coerce_target(EmailTarget, target)
        self.port = self.target.smtp_port()
        self.tls_context = tls_context
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        super().__init__(
            name=self.target.name,
            destination=f"smtp://{self.target.host}:{self.port}/{self.target.from_addr}",
            windows=[Window(self.target.rate_per_minute, 60.0)],
            digest=self.target.digest,
            max_wait_seconds=self.target.max_wait_seconds,
            clock=clock,
        )

    def describe(self) -> str:
        return f"email smtp://{self.target.host}:{self.port}"

    async def setup(self) -> None:
        # No network here: a refused destination must fail records (dead letters, see
        # ImSink.deliver), not the setup the worker would retry forever.
        return None

    async def close(self) -> None:
        await super().close()
        await self.end_batch()

    async def check_destination(self) -> None:
        # Vetted per connection in :meth:`_connect_socket`, which also pins the address.
        return None

    async def _connect_socket(self) -> socket.socket:
        """A TCP socket to a vetted address of the SMTP host (the SSRF guard, pinned).

        aiosmtplib then speaks SMTP (and TLS, verifying the certificate against the host
        name) over this socket, so the address checked is the address used.
        """
        t = self.target
        addresses = await checked_addresses(
            t.host, self.port, allow_private_network=t.allow_private_network
        )
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(
                    loop.sock_connect(sock, (address, self.port)), t.timeout_seconds
                )
            except (OSError, TimeoutError) as exc:
                sock.close()
                failure = exc if isinstance(exc, OSError) else TimeoutError(str(exc))
                continue
            return sock
        raise failure or OSError(f"{t.host} has no address")

    def digest_text(self, items: Sequence[Delivery]) -> str:
        if not self.target.html:
            return super().digest_text(items)
        max_items = self.digest.max_items if self.digest else len(items)
        shown = "<hr>".join(delivery_text(item) for item in items[:max_items])
        more = len(items) - max_items
        tail = f"<hr><p>… and {more} more</p>" if more > 0 else ""
        return f"<h3>kbridge digest: {len(items)} events</h3>{shown}{tail}"

    def build(self, text: str, context: Delivery) -> EmailMessage:
        """The message for ``text``; the body is truncated (visibly) to ``max_bytes``."""
        t = self.target
        message = EmailMessage()
        message["From"] = t.from_addr
        message["To"] = ", ".join(t.to)
        if t.cc:
            message["Cc"] = ", ".join(t.cc)
        message["Subject"] = render_subject(t.subject, context.headers)
        message["Date"] = formatdate(self.clock.time(), localtime=False)
        message["Message-ID"] = make_msgid(domain=t.from_addr.rpartition("@")[2] or None)
        if context.event_id:
            message["X-Kbridge-Event-Id"] = " ".join(context.event_id.split())
        if t.html:
            markup = truncate(
                text, t.max_bytes // 2, utf8_len, marker="<p>…[truncated by kbridge]</p>"
            )
            message.set_content(html_to_text(markup) or html.unescape(markup))
            message.add_alternative(markup, subtype="html")
        else:
            message.set_content(truncate(text, t.max_bytes, utf8_len))
        return message

    async def _connection(self) -> aiosmtplib.SMTP:
        """The batch's SMTP session, opened (TLS, login) on first use."""
        if self._smtp is None or not self._smtp.is_connected:
            t = self.target
            sock = await self._connect_socket()
            smtp = aiosmtplib.SMTP(
                hostname=t.host,  # TLS verifies the certificate against the name
                sock=sock,
                username=t.username,
                password=t.password.get_secret_value() if t.password else None,
                use_tls=t.tls == "implicit",
                start_tls=t.tls == "starttls",
                tls_context=self.tls_context,
                timeout=t.timeout_seconds,
            )
            await smtp.connect()
            self._smtp = smtp
        return self._smtp

    async def _drop_connection(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    async def end_batch(self) -> None:
        """Say QUIT: a session idling between batches would be cut by the server anyway."""
        async with self._lock:
            await self._drop_connection()

    async def send_text(self, text: str, context: Delivery) -> None:
        t = self.target
        message = self.build(text, context)
        await self.take_slot()
        # One session per batch; partitions delivering concurrently take turns on it.
        async with self._lock:
            try:
                smtp = await self._connection()
                refused, _ = await smtp.send_message(
                    message, sender=t.from_addr, recipients=[*t.to, *t.cc]
                )
            except (aiosmtplib.SMTPException, OSError) as exc:
                await self._drop_connection()  # its state is unknown after a failure
                error = error_for(exc)
                if isinstance(error, BackpressureError):
                    self.throttled(error)
                raise error from None
        if refused:  # some recipients refused, the rest accepted: delivered, but say so
            logger.warning(
                "SMTP refused %d of %d recipients of %s",
                len(refused),
                len(t.to) + len(t.cc),
                context.where(),
                extra={
                    "target": self.name,
                    "record": context.where(),
                    "refused": {addr: r.code for addr, r in refused.items()},
                },
            )
