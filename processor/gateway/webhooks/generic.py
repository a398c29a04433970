"""Payload mapping and IP allowlists for platform-agnostic webhook sources.

The ``hmac`` and ``token`` kinds serve SaaS that kbridge has no dedicated module for
(questionnaire tools such as 腾讯问卷, form builders, internal systems). Their events cannot
be mapped by convention, so the source declares where the event name, delivery id and
subject live: a header, or a dotted path into the JSON body. A field declared in kbridge.yaml
must be present (400 otherwise); a kind's default field is used when present, else the
``event_type`` default and the body digest stand in. Without a delivery id the
CloudEvent id is the SHA-256 of the body, so a platform retrying the same bytes still
deduplicates downstream. The options live in
:class:`processor.config.sources.MappedWebhookSource`.
"""

from __future__ import annotations

import ipaddress
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson

from processor.config.sources import MappedWebhookSource
from processor.gateway.webhooks.base import (
    WebhookConnector,
    WebhookEvent,
    WebhookForbiddenError,
    WebhookPayloadError,
    WebhookRequest,
    digest_id,
)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: list[str]) -> list[IpNetwork]:
    """Allowlist entries (addresses or CIDR blocks, validated by the config) as networks."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def check_ip_allowlist(networks: list[IpNetwork], client_ip: str | None) -> None:
    """Raise WebhookForbiddenError unless ``client_ip`` is in one of ``networks``."""
    if not networks:
        return
    try:
        address = ipaddress.ip_address(client_ip or "")
    except ValueError as exc:
        raise WebhookForbiddenError(
            "client address unknown; the source has an IP allowlist"
        ) from exc
    if not any(address in network for network in networks):
        raise WebhookForbiddenError(f"client address {address} is not in the IP allowlist")


def lookup(document: Any, dotted: str) -> Any:
    """The value at ``a.b.c`` in nested objects, or None when any step is missing."""
    value = document
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def body_data(request: WebhookRequest) -> Any:
    """The body as JSON, or as a flat dict when it is a form; anything else is a 400."""
    content_type = (request.header("content-type") or "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise WebhookPayloadError(f"body is not valid JSON: {exc}") from exc


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value)
        return text or None
    return None


def map_generic(options: MappedWebhookSource, request: WebhookRequest) -> WebhookEvent:
    """Build the event draft of a generic delivery from the source's mapping options."""
    data = body_data(request)

    explicit = options.model_fields_set

    def pick(header: str | None, field: str, what: str) -> str | None:
        """From the header, else the body field; required only when set in kbridge.yaml
        (a kind's default field, such as the token kind's ``action``, is a best guess)."""
        if header is not None:
            value = request.header(header)
            if not value:
                raise WebhookPayloadError(f"missing header {header} (the {what})")
            return value
        dotted: str | None = getattr(options, field)
        if dotted is None:
            return None
        value = _scalar(lookup(data, dotted))
        if value is None and field in explicit:
            raise WebhookPayloadError(f"body has no {dotted} (the {what})")
        return value

    event_type = pick(options.event_type_header, "event_type_field", "event type")
    event_id = pick(options.id_header, "id_field", "delivery id")
    subject = _scalar(lookup(data, options.subject_field)) if options.subject_field else None
    return WebhookEvent(
        id=event_id or digest_id(options.name, request.body),
        type=event_type or options.event_type,
        data=data,
        subject=subject,
    )


MappedT = TypeVar("MappedT", bound=MappedWebhookSource)


class MappedConnector(WebhookConnector[MappedT]):
    """The shared half of the ``hmac`` and ``token`` kinds: the IP allowlist, the
    ``saas.<platform>`` source named in the options and :func:`map_generic`; subclasses
    verify (calling :meth:`check_ip_allowlist` first)."""

    def __init__(self, options: MappedT) -> None:
        super().__init__(options)
        self._networks = parse_networks(options.ip_allowlist)

    @property
    def source(self) -> str:
        return f"saas.{self.options.platform}"

    def check_ip_allowlist(self, request: WebhookRequest) -> None:
        """Raise WebhookForbiddenError unless the client is in the source's IP allowlist."""
        check_ip_allowlist(self._networks, request.client_ip)

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        return [map_generic(self.options, request)]
