"""The contract every SaaS webhook connector implements, and the registry by source kind.

A connector is built per webhook source from that source's model in
``processor/config/sources.py`` (the one place kbridge.yaml fields are defined) and
handles one HTTP delivery in three steps, which the router calls in order:

1. :meth:`WebhookConnector.verify` authenticates the delivery exactly as the platform
   documents it (signature, timestamp window, token, IP allowlist) and raises a
   :class:`WebhookAuthError` otherwise; nothing is published for a rejected delivery.
2. :meth:`WebhookConnector.handshake` answers the platform's endpoint-verification request
   (Slack ``url_verification``, Feishu ``challenge``, WeCom ``echostr``); such requests carry
   no event, so the router returns the response without publishing.
3. :meth:`WebhookConnector.parse` turns the payload into :class:`WebhookEvent` drafts, which
   :meth:`WebhookConnector.to_events` turns into CloudEvents with ``source =
   saas.<platform>``.

Connectors never do I/O: they see a :class:`WebhookRequest` (raw body bytes, headers, query,
client address) and the current time, so every scheme is unit-tested with the platforms'
official vectors and an injected clock.

Errors (all :class:`processor.errors.FatalError`, since a redelivery of the same bytes
cannot succeed)::

    WebhookError            400  base; ``status`` is the HTTP status the router answers
    ├── WebhookPayloadError 400  malformed body, missing required field
    ├── WebhookAuthError    401  missing or wrong signature/token
    │   └── WebhookReplayError 401  timestamp outside the replay window
    └── WebhookForbiddenError 403  client address not in the IP allowlist
"""

from __future__ import annotations

import abc
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from pydantic import ValidationError

from processor.config.sources import WebhookSourceBase
from processor.errors import ConfigError, FatalError
from processor.events import CloudEvent

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Returns the current Unix time in seconds; injected so replay windows are testable."""


class WebhookError(FatalError):
    """A delivery the gateway refuses; ``status`` is the HTTP answer."""

    status: int = 400
    code = "webhook"


class WebhookPayloadError(WebhookError):
    """The body is not what the platform sends (bad JSON, missing id or event name)."""

    status = 400
    code = "malformed"


class WebhookAuthError(WebhookError):
    """The delivery is not authentic: missing or wrong signature or token."""

    status = 401
    code = "unauthorized"


class WebhookReplayError(WebhookAuthError):
    """The signed timestamp is outside the replay window."""

    code = "replay"


class WebhookForbiddenError(WebhookError):
    """The client address is not in the source's IP allowlist."""

    status = 403
    code = "forbidden"


@dataclass(slots=True)
class WebhookRequest:
    """One HTTP delivery as a connector sees it; header names are lower-case."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"
    client_ip: str | None = None
    path_token: str | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    """Per-request cache (a decrypted body, a parsed form) shared by the three steps."""

    @classmethod
    def build(
        cls,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> WebhookRequest:
        """Build a request, lower-casing header names (HTTP header names are case-blind)."""
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return cls(body=body, headers=lowered, query=dict(query or {}), **kwargs)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None."""
        return self.headers.get(name.lower())

    def require_header(self, name: str) -> str:
        """The value of header ``name``; a missing signature header is an auth failure."""
        value = self.header(name)
        if not value:
            raise WebhookAuthError(f"missing header {name}")
        return value

    def json(self) -> Any:
        """The body parsed as JSON (cached); malformed JSON is a 400."""
        if "json" not in self.memo:
            try:
                self.memo["json"] = orjson.loads(self.body)
            except orjson.JSONDecodeError as exc:
                raise WebhookPayloadError(f"body is not valid JSON: {exc}") from exc
        return self.memo["json"]

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; any other JSON value is a 400."""
        value = self.json()
        if not isinstance(value, dict):
            raise WebhookPayloadError("body must be a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What the router answers directly (handshakes, platform-specific acknowledgements)."""

    status: int = 200
    body: bytes = b""
    media_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> WebhookResponse:
        """A JSON response."""
        return cls(status=status, body=orjson.dumps(value))

    @classmethod
    def text(cls, value: str, status: int = 200) -> WebhookResponse:
        """A plain-text response (WeCom's echostr, Slack's challenge)."""
        return cls(status=status, body=value.encode(), media_type="text/plain")


def url_verification(payload: dict[str, Any]) -> WebhookResponse | None:
    """The answer to a ``url_verification`` payload (Slack, Feishu): its ``challenge`` echoed
    as JSON; None when the payload is something else."""
    if payload.get("type") != "url_verification":
        return None
    challenge = payload.get("challenge")
    if not isinstance(challenge, str):
        raise WebhookPayloadError("url_verification without a challenge string")
    return WebhookResponse.json({"challenge": challenge})


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A connector's mapping of one delivery, before it becomes a CloudEvent.

    ``id`` is the platform's delivery id, so that the platform's own retries of one delivery
    carry the same CloudEvent id and deduplicate downstream.
    """

    id: str
    type: str
    data: Any
    subject: str | None = None
    time: datetime | None = None
    datacontenttype: str = "application/json"


OptionsT = TypeVar("OptionsT", bound=WebhookSourceBase)


class WebhookConnector(abc.ABC, Generic[OptionsT]):
    """Verifies, answers handshakes for, and maps the deliveries of one SaaS platform."""

    kind: ClassVar[str]
    """The source ``kind`` in kbridge.yaml that selects this connector."""

    platform: ClassVar[str]
    """Platform name in the CloudEvent source, ``saas.<platform>``."""

    options_model: ClassVar[type[WebhookSourceBase]]
    """The source model in ``processor/config/sources.py`` this connector reads."""

    uses_path_token: ClassVar[bool] = False
    """Whether deliveries come to ``/v1/webhooks/{name}/{token}`` (unsigned platforms)."""

    accepts_get: ClassVar[bool] = False
    """Whether the platform verifies the endpoint with a GET (WeCom's echostr)."""

    def __init__(self, options: OptionsT) -> None:
        self.options = options

    @property
    def source(self) -> str:
        """The CloudEvent ``source`` attribute of this connector's events."""
        return f"saas.{self.platform}"

    @abc.abstractmethod
    def verify(self, request: WebhookRequest, now: float) -> None:
        """Raise a :class:`WebhookAuthError` unless the delivery is authentic and fresh."""

    def handshake(self, request: WebhookRequest) -> WebhookResponse | None:
        """The answer to an endpoint-verification request, or None for an event delivery."""
        return None

    @abc.abstractmethod
    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Map a verified delivery to event drafts; raise WebhookPayloadError if malformed."""

    def acknowledge(self, events: list[CloudEvent]) -> WebhookResponse:
        """The answer after every event was published (some platforms want a fixed body)."""
        return WebhookResponse.json({"accepted": len(events), "ids": [e.id for e in events]})

    def to_events(self, request: WebhookRequest) -> list[CloudEvent]:
        """The CloudEvents of a verified delivery: :meth:`parse` plus ``source``."""
        events = []
        for draft in self.parse(request):
            try:
                events.append(
                    CloudEvent(
                        id=draft.id,
                        source=self.source,
                        type=draft.type,
                        subject=draft.subject,
                        time=draft.time,
                        datacontenttype=draft.datacontenttype,
                        data=draft.data,
                    )
                )
            except ValidationError as exc:
                problems = "; ".join(str(e["msg"]) for e in exc.errors())
                raise WebhookPayloadError(f"cannot build a CloudEvent: {problems}") from exc
        return events


ConnectorClass = type[WebhookConnector[Any]]
_REGISTRY: dict[str, ConnectorClass] = {}


def register_connector(cls: ConnectorClass) -> ConnectorClass:
    """Class decorator registering a connector under its ``kind``."""
    existing = _REGISTRY.get(cls.kind)
    if existing is not None and existing is not cls:
        raise ValueError(f"webhook kind {cls.kind!r} already registered by {existing!r}")
    _REGISTRY[cls.kind] = cls
    return cls


def connector_kinds() -> list[str]:
    """Every registered webhook source kind, sorted."""
    return sorted(_REGISTRY)


def connector_class(kind: str) -> ConnectorClass | None:
    """The connector class for a source ``kind``, or None when it is not a webhook kind."""
    return _REGISTRY.get(kind)


def build_connector(source: Any) -> WebhookConnector[Any]:
    """Build the connector for a webhook source config (a model or a mapping).

    Raises ConfigError when the kind is unknown or the source lacks a field the connector
    needs; the message names the source and the field.
    """
    kind = source.get("kind") if isinstance(source, Mapping) else getattr(source, "kind", None)
    cls = connector_class(str(kind))
    if cls is None:
        raise ConfigError(f"unknown webhook source kind {kind!r}; known: {connector_kinds()}")
    if isinstance(source, cls.options_model):
        return cls(source)
    try:
        if isinstance(source, Mapping):
            options = cls.options_model.model_validate(source)
        else:
            options = cls.options_model.model_validate(source, from_attributes=True)
    except ValidationError as exc:
        # Not str(exc): pydantic echoes the input, which holds the source's secrets.
        name = source.get("name") if isinstance(source, Mapping) else getattr(source, "name", "?")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'source'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"webhook source {name!r} (kind {kind}): {problems}") from None
    return cls(options)


def required_text(value: object, message: str) -> str:
    """``value`` when it is a non-empty string; else a WebhookPayloadError with ``message``."""
    if not isinstance(value, str) or not value:
        raise WebhookPayloadError(message)
    return value


def epoch_time(value: object, *, millis: bool = False) -> datetime | None:
    """A platform's Unix timestamp (int, or a string of ASCII digits) as an aware datetime.

    Anything else, or a value outside the datetime range, gives None: the event time is
    informative, and a bogus one must not turn a delivery into a 500.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000 if millis else value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def digest_id(*parts: bytes | str) -> str:
    """A deterministic id for platforms that send none: retries of the same bytes match."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()
