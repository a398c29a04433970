"""One event through a configuration, offline: matched rules and what each target gets.

The event goes through :func:`processor.router.core.route` with a
:class:`~processor.router.table.RoutingTable` built from the configuration (the same core
both router engines run), and each egress record through the sink's own rendering code
(the HTTP request of a webhook, the chat message of an IM target, the row of a mysql
target), so an author sees the bytes the pipeline would send without a broker. Nothing
here opens a connection: sinks are built but never set up.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Message

from processor.config import KbridgeConfig
from processor.config._base import mask_url
from processor.config.wording import suggest
from processor.errors import KbridgeError
from processor.events import deepjson
from processor.gateway.aws import EntryError, entry_form
from processor.kafka import headers as h
from processor.kafka.topics import bus_topic
from processor.router.core import route
from processor.router.records import InRecord, OutRecord
from processor.router.table import RoutingTable
from processor.sinks.base import Delivery, SinkContext
from processor.sinks.records import to_delivery

STRUCTURED = b"application/cloudevents+json; charset=utf-8"
_MASK = "***"


class EventInputError(ValueError):
    """The input event cannot be routed (not JSON, neither a CloudEvent nor an AWS event)."""


@dataclass
class TargetOutput:
    """What one target of one matched rule would receive."""

    rule: str
    target: str
    kind: str
    content_type: str
    payload: Any
    """The transformed payload: parsed JSON when it is JSON, else text."""
    egress: dict[str, Any]
    """The record on ``kbridge.target.<t>``: topic, key, headers, value."""
    sent: dict[str, Any] = field(default_factory=dict)
    """What the sink sends: an HTTP request, a mysql row, an email, a Kafka record."""
    error: str | None = None
    """Why routing or rendering refused this event (it would be dead-lettered)."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form for ``-o json`` and test files."""
        out = {
            "rule": self.rule,
            "target": self.target,
            "kind": self.kind,
            "content_type": self.content_type,
            "payload": self.payload,
            "egress": self.egress,
            "sent": self.sent,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class RouteOutput:
    """The result of routing one event offline."""

    bus: str
    event: dict[str, Any]
    matched_rules: list[str]
    targets: list[TargetOutput]
    dead_letters: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form for ``-o json``."""
        return {
            "bus": self.bus,
            "event": self.event,
            "matched_rules": self.matched_rules,
            "targets": [t.as_json() for t in self.targets],
            "dead_letters": self.dead_letters,
        }


class Router:
    """A configuration compiled once, routing many events (``kbridge test`` runs hundreds)."""

    def __init__(self, config: KbridgeConfig) -> None:
        self.config = config
        self.table = RoutingTable.from_config(config)
        self._sinks: dict[str, Any] = {}

    def default_bus(self) -> str | None:
        """The only bus, when there is exactly one."""
        return self.config.buses[0].name if len(self.config.buses) == 1 else None

    def route(
        self, event: Mapping[str, Any], *, bus: str | None = None, now: float | None = None
    ) -> RouteOutput:
        """Route ``event`` (a CloudEvent or an AWS event as JSON) on ``bus``.

        ``now`` (epoch seconds) is the ingestion time the router stamps; defaults to the
        event's ``time``, else the clock. Raises :class:`EventInputError` for input that is
        not an event.
        """
        if not isinstance(event, Mapping):
            raise EventInputError("the event must be a JSON object")
        bus = bus or _event_bus(event) or self.default_bus()
        if bus is None:
            names = ", ".join(b.name for b in self.config.buses) or "none defined"
            raise EventInputError(f"which bus? give --bus (buses: {names})")
        if self.config.bus(bus) is None:
            names = ", ".join(b.name for b in self.config.buses) or "none defined"
            hint = suggest(bus, [b.name for b in self.config.buses])
            raise EventInputError(f"bus {bus!r} is not defined ({hint}buses: {names})")
        form = cloudevent_form(event, bus, now=now)
        ingested = now if now is not None else _event_time(form)
        record = InRecord(
            topic=bus_topic(bus),
            partition=0,
            offset=0,
            key=str(form.get("id", "")).encode(),
            value=deepjson.dumps(form),
            headers=[(h.CONTENT_TYPE, STRUCTURED)],
            timestamp_ms=int(ingested * 1000),
        )
        result = route(self.table, record)
        output = RouteOutput(
            bus=bus, event=form, matched_rules=list(result.matched_rules), targets=[]
        )
        for out in result.records:
            if out.dead_letter and out.target is None:
                output.dead_letters.append(_dead_letter_reason(out))
            else:
                output.targets.append(self._render(out, ingested))
        return output

    def _render(self, out: OutRecord, now: float) -> TargetOutput:
        target = self.config.target(out.target or "")
        kind = target.kind if target is not None else "?"
        rule, name = out.rule or "", out.target or ""
        if out.dead_letter:
            reason = _dead_letter_reason(out)
            return TargetOutput(rule, name, kind, "", None, {}, error=reason["message"])
        message = Message(
            topic=out.topic,
            value=out.value,
            key=out.key,
            headers=list(out.headers),
            partition=0,
            offset=0,
            timestamp=(1, int(now * 1000)),
        )
        delivery = to_delivery(message)
        ctype = delivery.headers.get("content-type", "application/json")
        egress = {
            "topic": out.topic,
            "key": _text(out.key),
            "headers": {k: v.decode("utf-8", "replace") for k, v in out.headers},
            "value": _text(out.value),
        }
        result = TargetOutput(rule, name, kind, ctype, _payload(delivery.value, ctype), egress)
        if target is None:
            result.error = f"target {name!r} is not defined"
            return result
        try:
            result.sent = self._sent(target, delivery, now)
        except KbridgeError as exc:
            result.error = f"{exc.code}: {exc.message}"
        except Exception as exc:  # a sink refusing the record is what the author must see
            result.error = f"{type(exc).__name__}: {exc}"
        return result

    def _sink(self, target: Any) -> Any:
        sink = self._sinks.get(target.name)
        if sink is None:
            from processor.sinks.kinds import build_sink

            connections = {c.name: c for c in self.config.connections}
            sink = build_sink(target.kind, target, SinkContext(target.name, connections))
            self._sinks[target.name] = sink
        return sink

    def _sent(self, target: Any, delivery: Delivery, now: float) -> dict[str, Any]:
        kind = target.kind
        if kind == "mysql":
            row = self._sink(target).row(delivery, now)
            return {"table": target.table, "row": {k: _plain(v) for k, v in row.items()}}
        if kind == "webhook" or (kind == "function" and target.url is not None):
            sink = self._sink(target)  # a URL function is a webhook sink (binary mode)
            headers, body = sink.request_parts(delivery, _auth_headers(sink.connection), now)
            return _http(sink.method, str(sink.url), headers, body)
        if kind == "function":
            from processor.sinks.function import event_form

            return {"entry_point": target.entry_point, "argument": [event_form(delivery)]}
        if kind == "kafka":
            return {
                "topic": target.topic,
                "key": _text(delivery.key),
                "headers": {k: v.decode("utf-8", "replace") for k, v in delivery.raw_headers},
                "value": _text(delivery.value),
            }
        if kind == "email":
            return _email(self._sink(target), delivery)
        return _chat(self._sink(target), delivery)


def _event_bus(event: Mapping[str, Any]) -> str | None:
    bus = event.get("kbridgebus") or event.get("EventBusName")
    return bus if isinstance(bus, str) and bus else None


def cloudevent_form(
    event: Mapping[str, Any], bus: str, *, now: float | None = None
) -> dict[str, Any]:
    """``event`` as the CloudEvent JSON form the gateway would write to the bus.

    A CloudEvent (it has ``specversion``) is taken as is; an AWS event (``source``,
    ``detail-type``, ``detail``, as EventBridge's sandbox shows them) or a PutEvents entry
    (``Source``, ``DetailType``, ``Detail``) goes through the gateway's PutEvents mapping,
    stamped with ``now`` (epoch seconds, default the clock) when it has no time.
    """
    if not isinstance(event, Mapping):
        raise EventInputError("the event must be a JSON object")
    if "specversion" in event:
        return dict(event)
    if "Source" in event or "DetailType" in event:
        entry: dict[str, Any] = dict(event)
    elif "detail-type" in event or "detail" in event:
        detail = event.get("detail", {})
        entry = {
            "Source": event.get("source"),
            "DetailType": event.get("detail-type"),
            "Detail": detail if isinstance(detail, str) else orjson.dumps(detail).decode(),
        }
        if "resources" in event:
            entry["Resources"] = event["resources"]
        if "time" in event:
            entry["Time"] = event["time"]
    else:
        raise EventInputError(
            "the event is neither a CloudEvent (no 'specversion') nor an AWS event "
            "(no 'detail-type' and 'detail', no 'Source' and 'DetailType')"
        )
    given_id = event.get("id") or event.get("EventId")
    form = entry_form(
        entry,
        bus,
        max_event_bytes=64 * 1024 * 1024,
        new_id=lambda: str(given_id) if given_id else str(uuid.uuid4()),
        now=lambda: _rfc3339(time.time() if now is None else now),
    )
    if isinstance(form, EntryError):
        raise EventInputError(f"{form.code}: {form.message}")
    return form


def _rfc3339(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_time(form: Mapping[str, Any]) -> float:
    text = form.get("time")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return time.time()


def _dead_letter_reason(out: OutRecord) -> dict[str, str]:
    found = {k: v.decode("utf-8", "replace") for k, v in out.headers}
    return {
        "stage": found.get(h.FAILED_STAGE, ""),
        "code": found.get(h.ERROR_CODE, ""),
        "message": found.get(h.ERROR_MESSAGE, ""),
        "rule": out.rule or "",
        "target": out.target or "",
    }


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode("ascii")


def _payload(value: bytes, content_type: str) -> Any:
    if "json" in content_type:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return _text(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _auth_headers(connection: Any) -> dict[str, str]:
    """The header a connection adds, with its secret masked (a token is fetched at send)."""
    kind = getattr(connection, "kind", None)
    if kind == "basic":
        return {"Authorization": f"Basic {_MASK}"}
    if kind == "api_key":
        return {connection.header: _MASK}
    if kind == "oauth_client_credentials":
        return {"Authorization": f"Bearer {_MASK} (from {connection.token_url})"}
    return {}


def _http(method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    shown = dict(headers)
    for name in shown:
        if name.lower() in ("authorization", "x-api-key"):
            shown[name] = shown[name] if _MASK in shown[name] else _MASK
    return {
        "method": method,
        "url": mask_url(url),
        "headers": shown,
        "body": _payload(body, shown.get("Content-Type", "")),
    }


def _chat(sink: Any, delivery: Delivery) -> dict[str, Any]:
    from processor.sinks.http.redact import redact_url
    from processor.sinks.im.digest import delivery_text

    text = sink.digest_text([delivery]) if sink.digest else delivery_text(delivery)
    requests = []
    for message in sink.messages(text, delivery):
        url, body = sink.request(message)
        requests.append(
            {
                "method": "POST",
                "url": redact_url(url),
                "headers": {"Content-Type": "application/json"},
                "body": orjson.loads(body),
            }
        )
    sent: dict[str, Any] = {"text": text, "requests": requests}
    if sink.digest:
        sent["digest"] = (
            f"collected for {sink.digest.window_seconds:g} s, up to "
            f"{sink.digest.max_items} events per message; shown for this event alone"
        )
    return sent


def _email(sink: Any, delivery: Delivery) -> dict[str, Any]:
    from processor.sinks.im.digest import delivery_text

    text = sink.digest_text([delivery]) if sink.digest else delivery_text(delivery)
    message = sink.build(text, delivery)
    headers = {k: str(v) for k, v in message.items() if k not in ("Date", "Message-ID")}
    body = message.get_body(("plain",))
    sent: dict[str, Any] = {
        "headers": headers,
        "body": body.get_content() if body is not None else "",
    }
    if sink.digest:
        sent["digest"] = (
            f"collected for {sink.digest.window_seconds:g} s, up to "
            f"{sink.digest.max_items} events per message; shown for this event alone"
        )
    return sent
