"""``create_app``: the gateway's FastAPI application, assembled from its routers.

Nothing connects at import or at ``create_app``: the Kafka producer and the configuration
store (the compacted ``kbridge.rules`` topic) start in the app's lifespan and stop with it.
Tests pass ``known_buses`` (and may pass a producer) instead of a live store.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from confluent_kafka import KafkaError
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from processor import __version__
from processor.errors import RetriableError
from processor.events import Mode
from processor.gateway import awsjson, cloudevents_http, management, ops, putevents
from processor.gateway.auth import ApiKey, KeyRing, hash_key
from processor.gateway.context import BusCatalog, ConfigBuses, GatewayContext, StaticBuses
from processor.gateway.errors import install_error_handlers
from processor.gateway.fastpath import GatewayApp, HotPath, HotRoutes
from processor.gateway.flow import FlowControl
from processor.gateway.guard import install_guard
from processor.gateway.metrics import GatewayMetrics
from processor.gateway.publisher import AsyncProducer, Publisher, publish_function
from processor.gateway.tracing import TraceparentMiddleware
from processor.kafka.producer import Headers
from processor.kafka.topics import RULES_TOPIC
from processor.settings import Settings
from processor.trace import writer as trace_writer

logger = logging.getLogger(__name__)


class ProducerSlot:
    """The producer the app sends with, filled in when the app starts."""

    def __init__(self, producer: AsyncProducer | None = None) -> None:
        self.queue: Callable[..., None] | None = None
        """The started producer's raw ``produce`` (``Producer.queue_function``), if any:
        looked up once per producer instead of once per request."""
        self._producer: AsyncProducer | None = None
        self.producer = producer

    @property
    def producer(self) -> AsyncProducer | None:
        """The started producer (None before the app starts and after it stops)."""
        return self._producer

    @producer.setter
    def producer(self, producer: AsyncProducer | None) -> None:
        queue_function = getattr(producer, "queue_function", None)
        self.queue = queue_function() if queue_function is not None else None
        self._producer = producer

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> tuple[int, int]:
        """Delegate to the started producer."""
        if self.producer is None:
            raise RetriableError("the gateway is not started: no Kafka producer yet")
        return await self.producer.send(topic, value, key, headers)

    def can_produce(self) -> bool:
        """Whether records can be queued with callbacks (else ``send`` is used per record)."""
        return self.producer is None or hasattr(self.producer, "produce")

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        on_delivery: Callable[[Any, Any], None],
    ) -> None:
        """Queue a record with a delivery callback (batched sends; see ``send_many``)."""
        producer = self.producer
        if producer is None:
            raise RetriableError("the gateway is not started: no Kafka producer yet")
        produce = getattr(producer, "produce", None)
        if produce is None:
            raise RetriableError("the producer cannot queue records with callbacks")
        produce(topic, value, key, headers, on_delivery, block=False)


def gateway_producer_overrides(settings: Settings) -> dict[str, Any]:
    """librdkafka settings of the gateway's producer.

    Its local queue holds more than the in-flight budget, so that the budget (a fast 503)
    binds first and ``produce`` never finds the queue full. Batches linger 1 ms, not the
    default 5: a client waits for every acknowledgement, and under load librdkafka still
    batches whatever queues while earlier requests are in flight (a longer linger cuts
    librdkafka's broker-thread CPU, 8-11 us per event at 3 ms against 15-25 us at 1 ms in
    in-process runs of batches of 10, but adds its whole length to every request at low
    load). TCP_NODELAY on the broker sockets: a small produce request sent while
    another is unacknowledged must not wait for the kernel's delayed ACK (Nagle).
    Acknowledgement settings (acks=all, idempotence) are the shared defaults, untouched.
    """
    queue_kbytes = max(2 * settings.gateway.max_inflight_bytes // 1024, 16 * 1024)
    return {
        "queue.buffering.max.kbytes": queue_kbytes,
        "linger.ms": 1,
        "socket.nagle.disable": True,
    }


def _brokers_down_reporter(
    loop: asyncio.AbstractEventLoop, flow: FlowControl
) -> Callable[[KafkaError], None]:
    """librdkafka's error callback (poll thread): "all brokers down" stalls the flow now."""

    def on_error(error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            loop.call_soon_threadsafe(flow.brokers_down)

    return on_error


def _keyring(settings: Settings, keys: KeyRing | None) -> KeyRing:
    ring = keys or KeyRing()
    admin = settings.gateway.admin_api_key
    if admin is not None:
        ring = ring.with_key(ApiKey("admin", hash_key(admin.get_secret_value()), frozenset({"*"})))
    return ring


def create_app(
    settings: Settings | None = None,
    *,
    producer: AsyncProducer | None = None,
    known_buses: Iterable[str] | None = None,
    config_store: Any = None,
    config_backend: management.ConfigBackend | None = None,
    keys: KeyRing | None = None,
    resolve_source: Callable[[str], object | None] | None = None,
    rules_topic: str = RULES_TOPIC,
    mode: Mode = "binary",
) -> FastAPI:
    """Build the gateway app.

    * ``producer``: an object with ``async send(topic, value, key, headers)`` completing on
      Kafka's acknowledgement; by default a :class:`processor.kafka.producer.Producer` is
      created when the app starts and closed when it stops.
    * ``known_buses``: a fixed bus list (tests); otherwise the buses, webhook sources and
      management API come from a :class:`processor.config.store.ConfigStore` following
      ``rules_topic`` (``config_store`` to share one that is already running).
    * ``keys``: API keys and SigV4 access keys; ``settings.gateway.admin_api_key`` is added
      with every scope. Keys are enforced when ``settings.gateway.auth_enabled`` (and SigV4
      is verified whenever access keys exist).
    """
    settings = settings or Settings()
    slot = ProducerSlot(producer)
    owns_store = known_buses is None and config_store is None
    store_holder: dict[str, Any] = {"store": config_store}

    def snapshot() -> Any:
        store = store_holder["store"]
        if store is None:
            raise RetriableError("the configuration store is not started")
        return store.snapshot()

    def caught_up() -> bool:
        store = store_holder["store"]
        return store is not None and bool(store.caught_up)

    buses: BusCatalog = (
        StaticBuses.of(known_buses) if known_buses is not None else ConfigBuses(snapshot, caught_up)
    )
    backend = config_backend
    if backend is None and known_buses is None:
        backend = _LazyStoreBackend(store_holder, settings, rules_topic)

    def ready() -> tuple[bool, str]:
        if slot.producer is None:
            return False, "Kafka producer not started"
        raw = getattr(slot.producer, "raw", None)
        if raw is not None:
            try:
                raw.list_topics(rules_topic, timeout=2)  # one topic's metadata: cheap
            except Exception as exc:
                return False, f"Kafka not reachable: {exc}"
        store = store_holder["store"]
        if known_buses is None and (store is None or not store.caught_up):
            return False, f"configuration not loaded yet from {rules_topic}"
        return True, "ok"

    metrics = GatewayMetrics()
    flow = FlowControl(
        max_inflight_bytes=settings.gateway.max_inflight_bytes,
        ack_timeout=settings.gateway.ack_timeout,
        on_refuse=lambda reason: metrics.shed.labels(reason).inc(),
    )
    publisher = Publisher(
        slot, max_event_bytes=settings.gateway.max_event_bytes, mode=mode, flow=flow
    )
    context = GatewayContext(
        settings=settings.gateway,
        publisher=publisher,
        buses=buses,
        keys=_keyring(settings, keys),
        metrics=metrics,
        ready=ready,
        config=backend,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        created = None
        if slot.producer is None:
            from processor.kafka.producer import Producer

            created = Producer(
                settings.kafka,
                error_cb=_brokers_down_reporter(asyncio.get_running_loop(), flow),
                **gateway_producer_overrides(settings),
            )
            slot.producer = created
            trace_writer.start(settings.kafka, by="gateway")  # docs/tracing.md
        started_store = None
        if owns_store:
            from processor.config.store import ConfigStore

            started_store = ConfigStore(
                settings.kafka,
                topic=rules_topic,
                replication_factor=settings.replication_factor,
            )
            started_store.start()
            store_holder["store"] = started_store
        logger.info(
            "gateway started",
            extra={"bootstrap": settings.kafka.bootstrap_servers, "rules_topic": rules_topic},
        )
        try:
            yield
        finally:
            if started_store is not None:
                started_store.stop()
            if created is not None:
                # Requests were answered (within the ack timeout) before the lifespan ends;
                # records still queued now belong to answers already sent as OutcomeUnknown.
                created.close(timeout=settings.gateway.ack_timeout)
                slot.producer = None

    app = GatewayApp(
        title="kbridge gateway",
        version=__version__,
        description=(
            "PutEvents (REST and the AWS JSON 1.1 protocol), CloudEvents over HTTP, SaaS "
            "webhooks and the management API of kbridge. Every accepted event was "
            "acknowledged by Kafka (acks=all) before the response."
        ),
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.kbridge = context
    app.state.kafka = settings.kafka  # the trace lookup (processor/gateway/tracing.py)
    install_error_handlers(app)

    hot_handlers = {
        "events": partial(putevents.serve_put_events, context=context),
        "cloudevents": partial(cloudevents_http.serve_cloudevents, context=context),
    }
    app.add_middleware(  # innermost: the guard and the timing below still wrap it
        HotRoutes,
        handlers=hot_handlers,
        exception_handlers=lambda: app.exception_handlers,
    )
    app.add_middleware(TraceparentMiddleware)  # a producer's W3C traceparent header
    guard = install_guard(app, settings.gateway)  # Host, Origin, Content-Type, body bound
    app.add_middleware(TimingMiddleware, metrics=context.metrics)
    # The same checks, flat, in front of the whole stack for the hot routes (fastpath.py).
    app.hot_path = HotPath(hot_handlers, lambda: app.exception_handlers, guard, metrics)

    app.include_router(ops.router)
    app.include_router(putevents.router)
    app.include_router(cloudevents_http.router)
    _mount_webhooks(app, publisher, resolve_source, snapshot, known_buses is None, settings)
    app.include_router(awsjson.router)
    from processor.console import mount as mount_console  # docs/console.md

    mount_console(app)  # before management: /v1/console/* would match /v1/{section}/{name}
    app.include_router(management.router)  # last: its /v1/{section} paths are generic
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with one operation id per (path, method).

    FastAPI gives a route serving several methods (the webhook GET/POST route) the same
    operation id for each and warns; ids are made unique by suffixing the method instead.
    """
    if app.openapi_schema is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Duplicate Operation ID")
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
        seen: set[str] = set()
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                op_id = operation.get("operationId")
                if op_id is None:
                    continue
                if op_id in seen:
                    op_id = f"{op_id}_{method}"
                    operation["operationId"] = op_id
                seen.add(op_id)
        app.openapi_schema = schema
    return app.openapi_schema


class TimingMiddleware:
    """Request latency per route template and status (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_latency(endpoint, status["code"], time.perf_counter() - started)


def _operation_id(route: APIRoute) -> str:
    """Unique operation ids, also for routes serving several methods."""
    methods = "_".join(sorted(route.methods or ()))
    raw = f"{route.name}_{methods}_{route.path_format}"
    return raw.replace("/", "_").replace("{", "").replace("}", "")


def _mount_webhooks(
    app: FastAPI,
    publisher: Publisher,
    resolve_source: Callable[[str], object | None] | None,
    snapshot: Callable[[], Any],
    live: bool,
    settings: Settings,
) -> None:
    from processor.gateway.webhooks import build_webhook_router

    if resolve_source is None:

        def resolve_source(name: str) -> object | None:
            if not live:
                return None
            source: object | None = snapshot().source(name)
            return source

    router = build_webhook_router(
        resolve_source,
        publish_function(publisher),
        max_body_bytes=settings.gateway.max_event_bytes,
    )
    app.include_router(router)


class _LazyStoreBackend:
    """A :class:`management.StoreBackend` over the store the lifespan starts."""

    def __init__(self, holder: dict[str, Any], settings: Settings, topic: str) -> None:
        self._holder = holder
        self._settings = settings
        self._topic = topic

    def _backend(self) -> management.StoreBackend:
        store = self._holder["store"]
        if store is None:
            raise RetriableError("the configuration store is not started")
        return management.StoreBackend(
            store, self._settings.kafka, self._topic, self._settings.replication_factor
        )

    def snapshot(self) -> Any:
        """The live configuration."""
        return self._backend().snapshot()

    def put(self, obj: Any) -> None:
        """Publish one object."""
        self._backend().put(obj)

    def delete(self, kind: Any, name: str) -> None:
        """Delete one object."""
        self._backend().delete(kind, name)
