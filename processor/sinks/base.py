"""The sink contract every target kind implements.

A sink worker (``processor/sinks/worker.py``) reads a target's egress topic, groups records
per partition into batches, and hands each batch to :meth:`Sink.deliver`. ``deliver``
reports one outcome per item, so one bad row or message never fails its neighbours
(benthos' ``BatchError`` idea): ``None`` means delivered; an exception means failed, and the
worker decides retry-or-dead-letter from ``exc.retriable`` (see :mod:`processor.errors`),
honouring ``BackpressureError.retry_after``. Offsets are committed only after every item of
a batch was delivered or dead-lettered.
"""

from __future__ import annotations

import abc
import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from processor.config.references import resolve_model
from processor.kafka.headers import CE_ID, RULE

DeliveryOutcome = BaseException | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One egress record to deliver: the transformed payload plus its CloudEvent context.

    ``headers`` are the egress record's headers decoded as UTF-8 (``ce_id``, ``ce_source``,
    ``ce_type``, ..., ``content-type``, ``kbridge-rule``, ``kbridge-bus``,
    ``kbridge-ingested-at``); ``value`` is the transformed payload (the CloudEvent's data).
    """

    value: bytes
    headers: Mapping[str, str]
    key: bytes | None = None
    topic: str = ""
    partition: int = 0
    offset: int = 0
    raw_headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)
    #: Kafka record timestamp in seconds since the epoch (the age origin when the record
    #: carries no ``kbridge-ingested-at`` header); ``None`` when unknown.
    timestamp: float | None = None
    #: The record exactly as consumed, when the worker rewrote a structured or Avro
    #: CloudEvent into the binary form above (dead letters keep the original).
    original: tuple[bytes, Sequence[tuple[str, bytes]]] | None = None

    @property
    def event_id(self) -> str:
        """The CloudEvent id (``ce_id``), the deduplication key downstream."""
        return self.headers.get(CE_ID, "")

    @property
    def rule(self) -> str:
        """The rule that routed this record here."""
        return self.headers.get(RULE, "")

    def where(self) -> str:
        """``topic[partition]@offset``, for log lines about this record."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


class Sink(abc.ABC):
    """A destination for one target. Instances are created per target by the worker."""

    #: How many items the worker hands to one ``deliver`` call at most.
    max_batch_size: int = 100

    async def setup(self) -> None:  # noqa: B027 - optional hook
        """Open connections, create tables; called once before the first batch."""

    @abc.abstractmethod
    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[DeliveryOutcome]:
        """Deliver ``batch``; return one outcome per item, in order (``None`` = delivered)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once when the worker stops."""


SinkFactory = Callable[..., Sink]
"""Builds a sink from its validated target model (see ``processor/config/targets.py``).

Called as ``factory(target)``, or ``factory(target, context=SinkContext(...))`` when the
factory declares a ``context`` parameter (see :func:`build_sink`).
"""

Publish = Callable[[str, bytes, Sequence[tuple[str, bytes]], bytes | None], Awaitable[None]]
"""``publish(topic, value, headers, key)``: produce and wait for the acknowledgement."""


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink may need beyond its own target model, supplied by the worker.

    ``connections`` maps connection names to config connection models (webhook auth);
    ``clusters`` maps cluster names to ``KafkaClientConfig`` (kafka sink on another
    cluster); ``kafka`` is the worker's own cluster; ``publish`` produces to a topic of that
    cluster (function results published to a bus).
    """

    target_name: str = ""
    connections: Mapping[str, Any] = field(default_factory=dict)
    clusters: Mapping[str, Any] = field(default_factory=dict)
    kafka: Any = None
    publish: Publish | None = None


_REGISTRY: dict[str, SinkFactory] = {}
_MODULES: dict[str, str] = {}


def register_sink(kind: str) -> Callable[[SinkFactory], SinkFactory]:
    """Class decorator registering the sink implementation for a target ``kind``."""

    def decorate(factory: SinkFactory) -> SinkFactory:
        _REGISTRY[kind] = factory
        return factory

    return decorate


def register_sink_module(kind: str, module: str) -> None:
    """Say which module registers ``kind``; it is imported the first time ``kind`` is built.

    The catalog (:mod:`processor.sinks.kinds`) declares the built-in kinds this way, so this
    contract module imports no sink and building one sink imports only its own module.
    """
    _MODULES.setdefault(kind, module)


def sink_factory(kind: str) -> SinkFactory:
    """The factory for ``kind``, importing its declared module on first use."""
    if kind not in _REGISTRY and kind in _MODULES:
        importlib.import_module(_MODULES[kind])
    try:
        return _REGISTRY[kind]
    except KeyError:
        known = sorted(set(_REGISTRY) | set(_MODULES))
        raise KeyError(
            f"no sink registered for target kind {kind!r} (known: {', '.join(known) or 'none'};"
            " import processor.sinks.kinds for the built-in kinds)"
        ) from None


def build_sink(kind: str, target: Any, context: SinkContext | None = None) -> Sink:
    """Build the sink for ``target``, passing ``context`` to factories that accept one.

    Run-time secret references (``${env:VAR}``, ``${file:/path}``) in the target and its
    connections and clusters are resolved here, in the process that opens the connection,
    so the configuration topic only ever holds the reference.
    """
    factory = sink_factory(kind)
    if isinstance(target, BaseModel):
        target = resolve_model(target)
    if context is not None and (context.connections or context.clusters):
        context = replace(
            context,
            connections={name: _resolved(c) for name, c in context.connections.items()},
            clusters={name: _resolved(c) for name, c in context.clusters.items()},
        )
    try:
        accepts_context = "context" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_context = False
    if accepts_context:
        return factory(target, context=context or SinkContext())
    return factory(target)


def _resolved(value: Any) -> Any:
    return resolve_model(value) if isinstance(value, BaseModel) else value
