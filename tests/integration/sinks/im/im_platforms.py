"""Local stand-ins for the IM platforms, on 127.0.0.1, written from their documentation.

Each server implements its platform's documented request format and signature check
independently of ``processor/sinks/im`` (so a signing bug cannot hide behind the same bug
in the test), and answers with the platform's documented success and error bodies. Tests
can queue scripted answers (rate-limit errors, outages) with :meth:`PlatformServer.queue`.

The DingTalk and Feishu servers also enforce the platform's rate limit against the
timestamps the client signed: the sinks sign with their injectable clock, so a test using a
:class:`~processor.sinks.im.clock.ManualClock` proves the spacing of sends without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]
SIGN_MISMATCH = "sign match fail or timestamp is not within one hour from current time"


@dataclass
class Received:
    """One request as the platform saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class PlatformServer:
    """A threaded HTTP server with a platform's request handling."""

    received: list[Received] = field(default_factory=list)
    scripted: deque[Answer] = field(default_factory=deque)
    violations: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def queue(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer the next valid request with this instead of the normal answer."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.scripted.append((status, headers or {}, data))

    def handle(self, request: Received) -> Answer:
        raise NotImplementedError

    def respond(self, request: Received) -> Answer:
        with self._lock:
            self.received.append(request)
            return self.handle(request)

    def scripted_or(self, answer: Answer) -> Answer:
        return self.scripted.popleft() if self.scripted else answer

    def start(self) -> None:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                parts = urlsplit(self.path)
                request = Received(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                status, headers, body = platform.respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _json_answer(status: int, body: Any) -> Answer:
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


def _max_in_window(stamps: list[float], period: float) -> int:
    stamps = sorted(stamps)
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


class DingTalkServer(PlatformServer):
    """``POST /robot/send?access_token=T[&timestamp=ms&sign=S]``: DingTalk's custom robot."""

    def __init__(self, token: str, secret: str | None, rate_per_minute: int = 20) -> None:
        super().__init__()
        self.token, self.secret, self.rate_per_minute = token, secret, rate_per_minute
        self.signed_at: list[float] = []

    @property
    def url(self) -> str:
        return f"{self.base}/robot/send?access_token={self.token}"

    def handle(self, request: Received) -> Answer:
        if request.path != "/robot/send" or request.query.get("access_token") != [self.token]:
            return _json_answer(200, {"errcode": 400106, "errmsg": "robot 不存在"})
        if self.secret is not None:
            ts = request.query.get("timestamp", ["0"])[0]
            if abs(int(ts) - time.time() * 1000) > 3600 * 1000:
                return _json_answer(200, {"errcode": 310000, "errmsg": "invalid timestamp"})
            expected = base64.b64encode(
                hmac.new(
                    self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            # parse_qs URL-decodes: an un-encoded "+" would arrive as a space and fail here.
            if not hmac.compare_digest(request.query.get("sign", [""])[0], expected):
                return _json_answer(200, {"errcode": 310000, "errmsg": "sign not match"})
            self.signed_at.append(int(ts) / 1000)
            if _max_in_window(self.signed_at, 60.0) > self.rate_per_minute:
                self.violations.append(f"more than {self.rate_per_minute} messages in a minute")
                return _json_answer(
                    200, {"errcode": 410100, "errmsg": "send too fast, exceed 20 times per minute"}
                )
        body = request.json()
        if body.get("msgtype") not in ("text", "markdown", "actionCard", "link", "feedCard"):
            return _json_answer(200, {"errcode": 400105, "errmsg": "不支持的消息类型"})
        if len(request.body) > 20_000:
            self.violations.append(f"body of {len(request.body)} bytes")
        return self.scripted_or(_json_answer(200, {"errcode": 0, "errmsg": "ok"}))


class WeComServer(PlatformServer):
    """``POST /cgi-bin/webhook/send?key=K``: WeCom's group robot."""

    LIMITS: ClassVar[dict[str, int]] = {"text": 2048, "markdown": 4096}

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    @property
    def url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={self.key}"

    def handle(self, request: Received) -> Answer:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != [self.key]:
            return _json_answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
        body = request.json()
        msgtype = body.get("msgtype")
        if msgtype not in self.LIMITS:
            return _json_answer(200, {"errcode": 40008, "errmsg": "invalid message type"})
        content = body[msgtype].get("content", "")
        if len(content.encode()) > self.LIMITS[msgtype]:
            self.violations.append(f"{msgtype} content of {len(content.encode())} bytes")
        return self.scripted_or(_json_answer(200, {"errcode": 0, "errmsg": "ok"}))


class FeishuServer(PlatformServer):
    """``POST /open-apis/bot/v2/hook/<id>``: Feishu's custom bot, signature in the body."""

    def __init__(self, hook_id: str, secret: str | None) -> None:
        super().__init__()
        self.hook_id, self.secret = hook_id, secret
        self.signed_at: list[float] = []

    @property
    def url(self) -> str:
        return f"{self.base}/open-apis/bot/v2/hook/{self.hook_id}"

    def handle(self, request: Received) -> Answer:
        if request.path != f"/open-apis/bot/v2/hook/{self.hook_id}":
            return _json_answer(
                404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        if len(request.body) > 20 * 1024:
            self.violations.append(f"body of {len(request.body)} bytes")
            return _json_answer(200, {"code": 9499, "msg": "Bad Request"})
        body = request.json()
        if self.secret is not None:
            ts = str(body.get("timestamp", "0"))
            key = f"{ts}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            fresh = abs(int(ts) - time.time()) <= 3600
            if not fresh or not hmac.compare_digest(str(body.get("sign", "")), expected):
                return _json_answer(
                    200,
                    {"code": 19021, "msg": SIGN_MISMATCH},
                )
            self.signed_at.append(float(ts))
        if body.get("msg_type") not in ("text", "post", "image", "share_chat", "interactive"):
            return _json_answer(200, {"code": 9499, "msg": "Bad Request"})
        return self.scripted_or(_json_answer(200, {"code": 0, "msg": "success", "data": {}}))


class SlackServer(PlatformServer):
    """``POST /services/T/B/X``: a Slack incoming webhook (plain-text answers)."""

    def __init__(self, path: str = "/services/T000/B000/XXXX") -> None:
        super().__init__()
        self.hook_path = path

    @property
    def url(self) -> str:
        return f"{self.base}{self.hook_path}"

    def handle(self, request: Received) -> Answer:
        plain = {"content-type": "text/plain"}
        if request.path != self.hook_path:
            return 404, plain, b"no_service"
        try:
            body = request.json()
        except ValueError:
            return 400, plain, b"invalid_payload"
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return 400, plain, b"no_text"
        return self.scripted_or((200, plain, b"ok"))
