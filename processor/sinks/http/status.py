"""The one status-to-outcome table of every HTTP sink (webhook, function, IM platforms).

Only 2xx is success. 429 is backpressure, and so is 503 when it carries ``Retry-After``
(RFC 9110 section 10.2.3: the header tells how long the service expects to be unavailable,
on a 503 as on a 429); the wait it asks for becomes the floor of the worker's next backoff.
408 and every other 5xx are transient; 401 and 403 are authentication failures (code
``auth``) and every other status (4xx, and 3xx since redirects are not followed to unvetted
hosts) is permanent: retrying cannot fix them. IM platforms that answer 200 with an error
code judge the body themselves, after this table said the status was fine.

Messages name the destination by what the caller passes as ``who`` (a host, or a platform
name): never by URL, since webhook URLs carry their token.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from datetime import UTC

import httpx

from processor.errors import BackpressureError, FatalError, KbridgeError, RetriableError
from processor.sinks.http.wire import WireResponse

#: A response from either HTTP path: httpx (IM platforms, OAuth, tests' mock transports) or
#: the lean webhook client (:mod:`processor.sinks.http.wire`).
Answer = httpx.Response | WireResponse

MAX_BODY_IN_ERROR = 300
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date).

    ``None`` when absent or unreadable (``soon``, ``inf``); a past date or a negative
    number means "now" (0.0). ``now`` is the wall clock an HTTP date is measured from.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def outcome(
    response: Answer, *, who: str | None = None, now: float | None = None
) -> KbridgeError | None:
    """``None`` for 2xx, else the error that says whether (and when) to retry."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    snippet = response.text[:MAX_BODY_IN_ERROR].strip() if response.content else ""
    if who is None:
        who = response.host if isinstance(response, WireResponse) else response.request.url.host
    message = f"HTTP {status} from {who}: {snippet}".strip().rstrip(":")
    code = f"http-{status}"
    if status == 429 or (status == 503 and response.headers.get("retry-after")):
        wait = retry_after(response.headers.get("retry-after"), now=now)
        return BackpressureError(message, retry_after=wait, code=code)
    if status == 408 or status >= 500:
        return RetriableError(message, code=code)
    if status in (401, 403):
        return FatalError(message, code="auth")
    return FatalError(message, code=code)


def transport_error(exc: httpx.HTTPError, who: str = "destination") -> RetriableError:
    """Connection refused, reset, timeouts: the destination may be back soon.

    URLs in the exception text are cut to their scheme (they may carry a token).
    """
    detail = _URL.sub(lambda m: m.group(0).split("://", 1)[0] + "://…", str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return RetriableError(f"{who} timed out ({type(exc).__name__})", code="timeout")
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return RetriableError(f"{who} unreachable ({reason})", code="connection")
