"""Map HTTP outcomes to the error hierarchy: only 2xx is success.

408, 429 and 5xx are transient (429 and 503 carry ``Retry-After``, honoured as
backpressure); 401/403 are authentication failures and every other 4xx (and 3xx, since
redirects are not followed to unvetted hosts) is permanent: retrying cannot fix them.
"""

from __future__ import annotations

import email.utils
import time

import httpx

from processor.errors import BackpressureError, FatalError, KbridgeError, RetriableError

MAX_BODY_IN_ERROR = 300


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def outcome(response: httpx.Response) -> KbridgeError | None:
    """``None`` for 2xx, else the error that says whether to retry."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    snippet = response.text[:MAX_BODY_IN_ERROR] if response.content else ""
    message = f"HTTP {status} from {response.request.url.host}: {snippet}".strip()
    code = f"http-{status}"
    if status in (429, 503) and response.headers.get("retry-after"):
        wait = retry_after(response.headers.get("retry-after"))
        return BackpressureError(message, retry_after=wait, code=code)
    if status == 429:
        return BackpressureError(message, code=code)
    if status == 408 or status >= 500:
        return RetriableError(message, code=code)
    if status in (401, 403):
        return FatalError(message, code="auth")
    return FatalError(message, code=code)


def transport_error(exc: httpx.HTTPError) -> RetriableError:
    """Connection refused, reset, timeouts: the destination may be back soon."""
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    return RetriableError(f"{type(exc).__name__}: {exc}", code=code)
