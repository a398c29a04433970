"""HTTP plumbing shared by the webhook-based IM sinks (DingTalk, WeCom, Feishu, Slack).

Each message is one ``POST`` of a compact UTF-8 JSON body through a long-lived
``httpx.AsyncClient`` (redirects are not followed: they could bypass the SSRF guard).
Transport failures and timeouts are retriable; the platform module decides what the
response means (:meth:`WebhookSink.check_response`). Webhook URLs carry their token, so only
:func:`processor.sinks.im.ssrf.redact_url` forms ever reach a log line or an error message.
"""

from __future__ import annotations

import abc
import json
import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from processor.clock import Clock
from processor.errors import BackpressureError, FatalError, KbridgeError, RetriableError
from processor.sinks.base import Delivery
from processor.sinks.im.base import ImSink
from processor.sinks.im.config import Digest
from processor.sinks.im.ratelimit import Window
from processor.sinks.im.ssrf import check_url, redact_url

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

ErrorTable = dict[int, tuple[bool, float | None, str]]
"""A platform's error codes: code -> (retriable, backpressure seconds or None, meaning)."""


def dump_json(message: Any) -> bytes:
    """Compact UTF-8 JSON, the way the platforms' own SDKs send it."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retry_after_seconds(response: httpx.Response, now: float) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or HTTP-date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def http_status_error(response: httpx.Response, platform: str, now: float) -> Exception:
    """The typed error for a non-success HTTP status (the worker's AWS-style rules)."""
    status = response.status_code
    detail = response.text[:200].strip()
    message = f"{platform} answered HTTP {status}: {detail}"
    if status == 429:
        return BackpressureError(
            message, retry_after=retry_after_seconds(response, now), code=f"http-{status}"
        )
    if status == 408 or status >= 500:
        return RetriableError(message, code=f"http-{status}")
    return FatalError(message, code=f"http-{status}")


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


class RedactUrls(logging.Filter):
    """Redact URLs in httpx's own log records.

    httpx logs every request's full URL at INFO (``HTTP Request: POST <url> ...``). A webhook
    URL *is* the credential (DingTalk ``access_token``, WeCom ``key``, the Slack and Feishu
    paths) and a signed DingTalk URL also carries ``sign``, so the URL is cut to
    ``scheme://host:port/…`` before any handler sees it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def redact_httpx_logs() -> None:
    """Install :class:`RedactUrls` on the ``httpx`` logger (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in httpx_logger.filters):
        httpx_logger.addFilter(RedactUrls())


class WebhookTargetFields(Protocol):
    """The target fields every webhook sink is built from (DingTalk, WeCom, Feishu, Slack)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def allow_private_network(self) -> bool: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def digest(self) -> Digest | None: ...

    @property
    def max_wait_seconds(self) -> float: ...


class WebhookSink(ImSink, abc.ABC):
    """An IM sink that posts JSON messages to one webhook URL."""

    platform: str = "webhook"

    def __init__(
        self,
        target: WebhookTargetFields,
        *,
        windows: Sequence[Window],
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            name=target.name,
            destination=target.url,
            windows=windows,
            digest=target.digest,
            max_wait_seconds=target.max_wait_seconds,
            clock=clock,
        )
        redact_httpx_logs()
        self.url = target.url
        self.allow_private_network = target.allow_private_network
        self.timeout_seconds = target.timeout_seconds
        self._client = client
        self._owns_client = client is None

    def describe(self) -> str:
        return f"{self.platform} {redact_url(self.url)}"

    async def setup(self) -> None:
        await self.check_destination()
        self.client()

    def client(self) -> httpx.AsyncClient:
        """The HTTP client; redirects are not followed (a redirect could bypass the SSRF guard)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds, follow_redirects=False)
        return self._client

    async def check_destination(self) -> None:
        await check_url(self.url, allow_private_network=self.allow_private_network)

    async def close(self) -> None:
        await super().close()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

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

        Success is HTTP 200 with ``errcode`` 0; another status is judged by
        :func:`http_status_error`, a non-zero ``errcode`` by ``error_for(errcode, errmsg)``.
        """
        if response.status_code != 200:
            raise http_status_error(response, self.platform, self.clock.time())
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
            return await self.client().post(
                url, content=body, headers={"content-type": JSON_CONTENT_TYPE}
            )
        except httpx.TimeoutException as exc:
            raise RetriableError(
                f"{self.describe()} timed out ({type(exc).__name__})", code="timeout"
            ) from None
        except httpx.TransportError as exc:
            raise RetriableError(
                f"{self.describe()} unreachable ({type(exc).__name__})", code="connect"
            ) from None
