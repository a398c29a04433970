"""Stand-ins for DingTalk, WeCom, Feishu, Slack and a mail server: what a person would see.

They answer like the platforms do (so the IM sinks' response checks pass), check the DingTalk
and Feishu signatures with their own implementation of the platforms' documented algorithm
(so a signer bug shows as ``SIGNATURE MISMATCH``), and print each message as it arrives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kbridge_demo.console import say

HTTP_PORT = 18080  # the IM URLs' defaults in examples/kbridge.yaml
SMTP_PORT = 2525  # ops-email's port in examples/kbridge.yaml
IM_CHANNELS = ("dingtalk", "wecom", "feishu", "slack")


@dataclass
class Received:
    channel: str
    text: str
    at: float
    note: str = ""


@dataclass
class Inbox:
    """Everything the receivers got, thread-safe; ``echo`` prints each message on arrival."""

    echo: bool = True
    items: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Received) -> None:
        with self.lock:
            self.items.append(item)
        if self.echo:
            body = "\n".join("    │ " + line for line in item.text.splitlines() or [""])
            note = f" ({item.note})" if item.note else ""
            say(f"  ┌─ {item.channel}{note}\n{body}\n  └─")

    def texts(self, channel: str) -> list[Received]:
        with self.lock:
            return [i for i in self.items if i.channel == channel]


def _sign_ok(expected: str, given: str | None) -> str:
    if not given:
        return "unsigned"
    return "signature ok" if hmac.compare_digest(expected, given) else "SIGNATURE MISMATCH"


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk robot signing: base64(HMAC-SHA256(secret, "<ms timestamp>\\n<secret>"))."""
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu bot signing: base64(HMAC-SHA256(key="<s timestamp>\\n<secret>", msg=b""))."""
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def im_text(channel: str, body: dict[str, Any]) -> str:
    """The text a person would see for one platform's webhook body."""
    if channel in ("dingtalk", "wecom"):
        kind = body.get("msgtype", "text")
        part = body.get(kind) or {}
        if kind == "markdown":
            return str(part.get("text") or part.get("content") or "")
        return str(part.get("content") or part.get("text") or json.dumps(part))
    if channel == "feishu":
        content = body.get("content") or {}
        if "text" in content:
            return str(content["text"])
        return json.dumps(content, ensure_ascii=False)
    if channel == "slack":
        return str(body.get("text") or json.dumps(body.get("blocks"), ensure_ascii=False))
    return json.dumps(body, ensure_ascii=False)


class _ImHandler(BaseHTTPRequestHandler):
    inbox: Inbox
    dingtalk_secret = os.environ.get("DINGTALK_SECRET", "SECdev")
    feishu_secret = os.environ.get("FEISHU_SECRET", "dev-feishu-secret")

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, payload: Any) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, bytes) else
                         "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        channel = url.path.strip("/").split("/", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._answer(400, {"errcode": 400, "errmsg": "invalid json"})
            return
        note = ""
        if channel == "dingtalk":
            query = urllib.parse.parse_qs(url.query)
            ts = (query.get("timestamp") or [""])[0]
            sign = next(iter(query.get("sign", [])), None)
            note = _sign_ok(dingtalk_sign(self.dingtalk_secret, ts), sign)
        elif channel == "feishu":
            ts = str(body.get("timestamp", ""))
            note = _sign_ok(feishu_sign(self.feishu_secret, ts), body.get("sign"))
        if channel not in IM_CHANNELS:
            self._answer(404, {"errcode": 404, "errmsg": f"no receiver for {url.path}"})
            return
        self.inbox.add(Received(channel, im_text(channel, body), time.monotonic(), note))
        if channel == "slack":
            self._answer(200, b"ok")
        elif channel == "feishu":
            self._answer(200, {"code": 0, "msg": "success", "data": {}})
        else:
            self._answer(200, {"errcode": 0, "errmsg": "ok"})


class SmtpReceiver:
    """A minimal SMTP server (no TLS, no auth) that hands each message to the inbox."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        send("220 kbridge-demo ESMTP")
        data: list[bytes] | None = None
        try:
            while line := await reader.readline():
                if data is not None:
                    if line.rstrip(b"\r\n") == b".":
                        self._message(b"".join(data))
                        data = None
                        send("250 2.0.0 queued")
                    else:
                        data.append(line[1:] if line.startswith(b"..") else line)
                    continue
                verb = line.decode("utf-8", "replace").strip()[:4].upper()
                if verb == "EHLO":
                    send("250-kbridge-demo")
                    send("250-8BITMIME")
                    send("250 SMTPUTF8")
                elif verb == "DATA":
                    data = []
                    send("354 end data with <CR><LF>.<CR><LF>")
                elif verb == "QUIT":
                    send("221 bye")
                    await writer.drain()
                    break
                elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                    send("250 OK")
                else:
                    send("502 command not implemented")
                await writer.drain()
        finally:
            writer.close()

    def _message(self, raw: bytes) -> None:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        header = f"From: {msg['From']}\nTo: {msg['To']}\nSubject: {msg['Subject']}\n\n"
        self.inbox.add(Received("email", header + text.strip(), time.monotonic()))


@contextlib.contextmanager
def receivers(
    inbox: Inbox, host: str = "127.0.0.1", http_port: int = HTTP_PORT, smtp_port: int = SMTP_PORT
) -> Iterator[None]:
    """Serve the IM webhook receiver and the SMTP receiver in background threads."""
    handler = type("ImHandler", (_ImHandler,), {"inbox": inbox})
    try:
        http = ThreadingHTTPServer((host, http_port), handler)
    except OSError as exc:
        raise SystemExit(f"demo: port {http_port} (IM receiver) is taken: {exc}") from None
    threading.Thread(target=http.serve_forever, name="im-receiver", daemon=True).start()

    loop = asyncio.new_event_loop()
    smtp = SmtpReceiver(inbox)
    try:
        server = loop.run_until_complete(asyncio.start_server(smtp.handle, host, smtp_port))
    except OSError as exc:
        http.server_close()
        raise SystemExit(f"demo: port {smtp_port} (SMTP receiver) is taken: {exc}") from None
    threading.Thread(target=loop.run_forever, name="smtp-receiver", daemon=True).start()
    try:
        yield
    finally:
        http.shutdown()
        http.server_close()

        async def close() -> None:
            server.close()
            await server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
