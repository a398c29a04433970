"""Chat-format adapters on the HTTP stack: what DingTalk, WeCom, Feishu and Slack share.

A platform module says how one text becomes JSON messages (:meth:`ChatWebhookSink.messages`),
how a message is signed (:meth:`ChatWebhookSink.request`) and what an answer means
(:meth:`ChatWebhookSink.check_response`). Everything else is the one HTTP delivery stack of
:mod:`processor.sinks.http`: guarded, address-pinned clients that never follow redirects
(:mod:`~processor.sinks.http.client`), the status table with ``Retry-After``
(:mod:`~processor.sinks.http.status`), the rate limiter (:mod:`~processor.sinks.http.ratelimit`,
taken in :class:`~processor.sinks.im.base.ImSink`) and URL redaction
(:mod:`~processor.sinks.http.redact`): webhook URLs carry their token, so only redacted forms
reach a log line or an error message.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from processor.clock import Clock
from processor.errors import BackpressureError, FatalError, KbridgeError, RetriableError
from processor.sinks.base import Delivery
from processor.sinks.http.client import HttpClients
from processor.sinks.http.ratelimit import Window
from processor.sinks.http.redact import redact_httpx_logs, redact_url
from processor.sinks.http.ssrf import check_url
from processor.sinks.http.status import outcome, transport_error
from processor.sinks.im.base import ImSink
from processor.sinks.im.config import coerce_target
from processor.sinks.im.digest import DigestStyle

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CONNECTIONS = 4
"""Connections per IM webhook sink (one client of the HTTP stack)."""

ErrorTable = dict[int, tuple[bool, float | None, str]]
"""A platform's error codes: code -> (retriable, backpressure seconds or None, meaning)."""


def dump_json(message: Any) -> bytes:
    """Compact UTF-8 JSON, the way the platforms' own SDKs send it."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def status_error(response: httpx.Response, platform: str, now: float) -> KbridgeError:
    """The typed error for an HTTP status that is not the platform's success.

    The one table of :func:`processor.sinks.http.status.outcome` (``Retry-After`` honoured on
    429 and 503); a 2xx the platform does not answer with (Slack's 200 ``ok``) is unexpected
    and not retried.
    """
    error = outcome(response, who=platform, now=now)
    if error is None:
        return FatalError(
            f"{platform} answered HTTP {response.status_code}: {response.text[:200]!r}",
            code=f"{platform.lower()}-unexpected",
        )
    return error


def json_object(response: httpx.Response, platform: str) -> dict[str, Any]:
    """The response body as a JSON object; a garbled answer is retriable (proxies, outages)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetriableError(
            f"{platform} answered HTTP {response.status_code} with a non-JSON body: "
            f"{response.text[:200]!r}",
            code="bad-response",
        )
    return body


def parse_json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object (a template that rendered a whole message), else ``None``."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def whole_message(
    message: dict[str, Any], *, what: str, max_bytes: int, reserve: int
) -> dict[str, Any]:
    """``message`` (rendered whole by the template), or a fatal error when its body plus
    ``reserve`` bytes exceeds ``max_bytes``: a rendered structure cannot be cut safely."""
    size = len(dump_json(message))
    if size + reserve > max_bytes:
        raise FatalError(
            f"{what} of {size} bytes exceeds the {max_bytes}-byte limit and cannot be cut safely",
            code="too-large",
        )
    return message


def coded_error(
    errors: ErrorTable, code: int, detail: str, *, label: str, prefix: str
) -> KbridgeError:
    """The typed error for a non-zero platform ``code``; unknown codes are not retried.

    The message reads ``"<label> <code> (<meaning>): <detail>"``, the error code
    ``"<prefix>-<code>"``.
    """
    retriable, backoff, meaning = errors.get(code, (False, None, "unknown error"))
    message = f"{label} {code} ({meaning}): {detail}"
    err_code = f"{prefix}-{code}"
    if backoff is not None:
        return BackpressureError(message, retry_after=backoff, code=err_code)
    if retriable:
        return RetriableError(message, code=err_code)
    return FatalError(message, code=err_code)


class ChatWebhookSink(ImSink, abc.ABC):
    """An IM sink that posts JSON messages to one webhook URL through the HTTP stack.

    A platform names its target model (:attr:`target_model`), its rate windows
    (:meth:`rate_windows`) and its digest style (:meth:`style`); the constructor is shared.
    """

    platform: str = "webhook"
    #: The platform's target model; a mapping passed as ``target`` is validated with it.
    target_model: ClassVar[type[BaseModel]]
    target: Any

    def __init__(
        self,
        target: Any,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = coerce_target(self.target_model, target)
        self.digest_style = self.style()
        super().__init__(
            name=self.target.name,
            destination=self.target.url,
            windows=self.rate_windows(),
            digest=self.target.digest,
            max_wait_seconds=self.target.max_wait_seconds,
            clock=clock,
        )
        redact_httpx_logs()
        self.url: str = self.target.url
        self.allow_private_network: bool = self.target.allow_private_network
        self.timeout_seconds: float = self.target.timeout_seconds
        self.http = HttpClients(
            timeout=self.timeout_seconds,
            allow_private_network=self.allow_private_network,
            # Partitions deliver concurrently through one sink; the rate limiter, not the
            # pool, decides when a message goes (a pool of one would queue into timeouts).
            concurrency=CONNECTIONS,
            transport=transport,
        )

    @abc.abstractmethod
    def rate_windows(self) -> list[Window]:
        """The platform's rate limits for this target (:attr:`target` is set)."""

    def style(self) -> DigestStyle:
        """How digests render for this target (:attr:`target` is set); plain by default."""
        return type(self).digest_style

    def describe(self) -> str:
        return f"{self.platform} {redact_url(self.url)}"

    async def setup(self) -> None:
        # No network here: a refused destination must fail records (dead letters, see
        # ImSink.deliver), not the setup the worker would retry forever.
        self.http.open()

    async def check_destination(self) -> None:
        # The scheme only; addresses are vetted (and pinned) per connection by the transport.
        await check_url(self.url, allow_private_network=True)

    async def close(self) -> None:
        await super().close()
        await self.http.close()

    @abc.abstractmethod
    def messages(self, text: str, context: Delivery) -> list[dict[str, Any]]:
        """The unsigned JSON messages that carry ``text`` (several when split)."""

    def request(self, message: dict[str, Any]) -> tuple[str, bytes]:
        """URL and body for one message, signed just before sending (timestamps stay fresh)."""
        return self.url, dump_json(message)

    @abc.abstractmethod
    def check_response(self, response: httpx.Response) -> None:
        """Raise the typed error a platform response means; return when it means delivered."""

    def check_errcode_response(
        self, response: httpx.Response, error_for: Callable[[int, str], KbridgeError]
    ) -> None:
        """:meth:`check_response` of the platforms that answer ``{"errcode", "errmsg"}``.

        Success is HTTP 200 with ``errcode`` 0; another status is judged by the HTTP stack's
        table (:func:`status_error`), a non-zero ``errcode`` by ``error_for(errcode, errmsg)``.
        """
        if response.status_code != 200:
            raise status_error(response, self.platform, self.clock.time())
        body = json_object(response, self.platform)
        errcode = body.get("errcode")
        if errcode == 0:
            return
        if not isinstance(errcode, int):
            raise RetriableError(
                f"{self.platform} answered without errcode: {body}", code="bad-response"
            )
        raise error_for(errcode, str(body.get("errmsg", "")))

    async def send_text(self, text: str, context: Delivery) -> None:
        try:
            messages = self.messages(text, context)
        except ValueError as exc:  # limits too small for the envelope: retrying cannot help
            raise FatalError(
                f"{self.platform} message cannot be built: {exc}", code="too-large"
            ) from exc
        for message in messages:
            await self.take_slot()
            url, body = self.request(message)
            response = await self.post(url, body)
            try:
                self.check_response(response)
            except BackpressureError as exc:
                self.throttled(exc)
                raise

    async def post(self, url: str, body: bytes) -> httpx.Response:
        """POST ``body``; transport failures become retriable errors without the URL."""
        try:
            return await self.http.next().post(
                url, content=body, headers={"content-type": JSON_CONTENT_TYPE}
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.describe()) from None
