"""Generic HMAC webhooks: a configurable header, prefix, algorithm and encoding.

For SaaS that sign ``prefix + encode(HMAC_<alg>(secret, message))`` into one header, where
``message`` is the raw body, or ``timestamp + separator + body`` when the platform also sends
a timestamp header (then a replay window applies; timestamps above 10^11 are taken as
milliseconds). Event attributes come from the mapping options of
:class:`processor.config.sources.MappedWebhookSource`.
"""

from __future__ import annotations

from processor.config.sources import HmacSource
from processor.gateway.webhooks.base import WebhookRequest, register_connector
from processor.gateway.webhooks.generic import MappedConnector
from processor.gateway.webhooks.signing import (
    check_window,
    encode_digest,
    hmac_digest,
    parse_timestamp,
    require_match,
)


def hmac_signature(options: HmacSource, body: bytes, timestamp: str | None) -> str:
    """The header value a correctly signing sender puts into ``options.header``."""
    message = (
        body
        if timestamp is None
        else (timestamp.encode() + options.timestamp_separator.encode() + body)
    )
    digest = hmac_digest(options.secret.get_secret_value().encode(), message, options.algorithm)
    return options.prefix + encode_digest(digest, options.encoding)


@register_connector
class HmacConnector(MappedConnector[HmacSource]):
    """Verifies a configurable HMAC signature and maps the body by the source's options."""

    kind = "hmac"
    platform = "webhook"
    options_model = HmacSource

    def verify(self, request: WebhookRequest, now: float) -> None:
        self.check_ip_allowlist(request)
        received = request.require_header(self.options.header)
        timestamp = None
        if self.options.timestamp_header is not None:
            timestamp = request.require_header(self.options.timestamp_header)
        expected = hmac_signature(self.options, request.body, timestamp)
        if self.options.encoding == "hex":
            # Hex is case-blind; some senders use upper case. The prefix is literal.
            plen = len(self.options.prefix)
            received = received[:plen] + received[plen:].lower()
        require_match(received, expected, self.options.header)
        if timestamp is not None:
            signed_at = parse_timestamp(timestamp)
            if signed_at > 1e11:
                signed_at /= 1000
            check_window(signed_at, now, self.options.tolerance_seconds)
