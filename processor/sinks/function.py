"""``kind: function``: hand events to a function, and optionally publish what it returns.

Two callees (exactly one per target):

* ``url``: an HTTP function endpoint (Knative / OpenFaaS style), one POST per event in
  CloudEvents binary mode. A 2xx response with a body is the function's result: a
  CloudEvent (binary ``ce-*`` headers or structured JSON) or plain data.
* ``entry_point``: a Python callable registered under the ``kbridge.functions``
  entry-point group, called once per batch with the events' JSON forms (attributes plus
  ``data``), so aggregating functions see many events at once. It may be sync (run in a
  thread) or async. It returns ``None`` (nothing to publish), a ``CloudEvent``, a list
  (one event per element) or any JSON value (the data of one new event).

With ``publish_to_bus`` set, results are produced to that bus's ingress topic, where rules
route them like any other event (the "data processing" scenario: responses in, an
aggregate out). A result event without its own id gets a deterministic one derived from
the input event ids, so a retried invocation publishes a duplicate that downstream
deduplication recognises.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from processor.errors import ConfigError, FatalError, RetriableError
from processor.events.kafka import decode, encode
from processor.events.model import CloudEvent
from processor.kafka.topics import bus_topic
from processor.sinks.base import (
    Delivery,
    DeliveryOutcome,
    Publish,
    Sink,
    SinkContext,
    register_sink,
)
from processor.sinks.http.binding import attributes
from processor.sinks.http.status import Answer
from processor.sinks.webhook import WebhookSink

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kbridge.functions"
RESULT_TYPE = "kbridge.function.result"
_NAMESPACE = uuid.UUID("6f1c5d2e-7a0b-4c1e-9d43-0b6a2f1e8c55")


def load_entry_point(name: str) -> Callable[..., Any]:
    """The callable registered as ``name`` in the ``kbridge.functions`` group."""
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            loaded = entry.load()
            if not callable(loaded):
                raise ConfigError(f"entry point {name!r} is not callable")
            return loaded  # type: ignore[no-any-return]
    raise ConfigError(f"no function {name!r} registered in entry-point group {ENTRY_POINT_GROUP}")


def event_form(item: Delivery) -> dict[str, Any]:
    """The CloudEvent JSON form of a delivery: ``ce_*`` attributes plus decoded ``data``."""
    form: dict[str, Any] = dict(attributes(item.headers))
    try:
        form["data"] = orjson.loads(item.value) if item.value else None
    except orjson.JSONDecodeError:
        form["data"] = item.value.decode("utf-8", "replace")
    return form


def result_events(result: Any, *, target: str, inputs: Sequence[Delivery]) -> list[CloudEvent]:
    """CloudEvents for a function's return value (see the module docstring)."""
    if result is None:
        return []
    values = result if isinstance(result, list) else [result]
    seed = target + "\n" + "\n".join(sorted(item.event_id for item in inputs))
    events: list[CloudEvent] = []
    for index, value in enumerate(values):
        if isinstance(value, CloudEvent):
            events.append(value)
            continue
        events.append(
            CloudEvent(
                id=str(uuid.uuid5(_NAMESPACE, f"{seed}\n{index}")),
                source=f"kbridge/function/{target}",
                type=RESULT_TYPE,
                datacontenttype="application/json",
                data=value,
            )
        )
    return events


class _Publisher:
    """Publishes result events to a bus through the worker's producer."""

    def __init__(self, target: str, bus: str | None, publish: Publish | None) -> None:
        if bus and publish is None:
            raise ConfigError(f"target {target!r}: publish_to_bus needs a Kafka producer")
        self.target = target
        self.topic = bus_topic(bus) if bus else None
        self._publish = publish

    async def __call__(self, events: Sequence[CloudEvent]) -> None:
        if self.topic is None or self._publish is None or not events:
            return
        for event in events:
            record = encode(event)
            try:
                await self._publish(self.topic, record.value or b"", record.headers, record.key)
            except Exception as exc:
                raise RetriableError(f"publishing the function result failed: {exc}") from exc


class HttpFunctionSink(WebhookSink):
    """POSTs each event (CloudEvents binary mode) and publishes the response."""

    def __init__(self, url: str, *, target: str, publisher: _Publisher, **kwargs: Any) -> None:
        super().__init__(url, body="binary", **kwargs)
        self.target = target
        self.publisher = publisher

    async def on_success(self, item: Delivery, response: Answer) -> DeliveryOutcome:
        if self.publisher.topic is None or not response.content:
            return None
        try:
            events = [self._response_event(item, response)]
            await self.publisher(events)
        except (FatalError, RetriableError) as exc:
            return exc
        return None

    def _response_event(self, item: Delivery, response: Answer) -> CloudEvent:
        headers = [
            ("ce_" + name[3:] if name.startswith("ce-") else name, value.encode("latin-1"))
            for name, value in response.headers.items()
        ]
        if any(name == "ce_id" for name, _ in headers) or response.headers.get(
            "content-type", ""
        ).startswith("application/cloudevents"):
            return decode(response.content, headers)
        try:
            data: Any = response.json()
        except ValueError:
            data = response.text
        [event] = result_events(data, target=self.target, inputs=[item])
        return event


class EntryPointFunctionSink(Sink):
    """Calls a registered Python function with each batch."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        target: str,
        publisher: _Publisher,
        timeout: float = 30.0,
        max_batch_size: int = 100,
    ) -> None:
        self.function = function
        self.target = target
        self.publisher = publisher
        self.timeout = timeout
        self.max_batch_size = max_batch_size

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        forms = [event_form(item) for item in batch]
        try:
            if inspect.iscoroutinefunction(self.function):
                result = await asyncio.wait_for(self.function(forms), self.timeout)
            else:
                result = await asyncio.wait_for(
                    asyncio.to_thread(self.function, forms), self.timeout
                )
            await self.publisher(result_events(result, target=self.target, inputs=batch))
        except TimeoutError:
            error: BaseException = RetriableError(
                f"function timed out after {self.timeout}s", code="timeout"
            )
            return [error] * len(batch)
        except Exception as exc:  # the function's own errors decide retry via `retriable`
            log.warning(
                "function %s failed on %d events from %s: %s",
                self.target,
                len(batch),
                batch[0].where(),
                exc,
                extra={"where": batch[0].where()},
            )
            return [exc] * len(batch)
        return [None] * len(batch)


@register_sink("function")
def build_function(target: Any, context: SinkContext | None = None) -> Sink:
    """Build from a ``kind: function`` target model."""
    context = context or SinkContext()
    publisher = _Publisher(target.name, getattr(target, "publish_to_bus", None), context.publish)
    timeout = float(getattr(target, "timeout", 30.0))
    if getattr(target, "url", None):
        return HttpFunctionSink(
            target.url,
            target=target.name,
            publisher=publisher,
            timeout=timeout,
            allow_private_network=bool(getattr(target, "allow_private_network", False)),
            concurrency=int(getattr(target, "concurrency", 8)),
        )
    return EntryPointFunctionSink(
        load_entry_point(target.entry_point),
        target=target.name,
        publisher=publisher,
        timeout=timeout,
        max_batch_size=int(getattr(target, "batch_size", 100) or 100),
    )
