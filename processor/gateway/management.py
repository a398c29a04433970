"""Management API: CRUD for buses, rules, targets, connections and sources, and pattern tests.

Objects are the config engineer's models (:mod:`processor.config`), validated with
:func:`processor.config.records.parse_object` exactly as ``kbridge apply`` validates
kbridge.yaml, and written to the compacted ``kbridge.rules`` topic through
:mod:`processor.config.publish`; routers and sinks pick changes up live. A change that would
leave the configuration inconsistent (a rule naming a missing target, deleting a bus that
rules use) is refused, naming every problem it would introduce. Secrets are never returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, SecretStr

from processor.config import KbridgeConfig, check_config
from processor.config.model import KIND_OF_SECTION, SECTIONS, ConfigObject, ObjectKind
from processor.config.problems import ConfigProblem, ConfigValidationError
from processor.config.records import parse_object
from processor.gateway import tracing
from processor.gateway.body import parse_json, read_body
from processor.gateway.context import GatewayContext, get_context
from processor.gateway.errors import ApiError
from processor.gateway.patterns_api import PatternTestError, evaluate_pattern

router = APIRouter(tags=["management"])

Section = Literal["buses", "rules", "targets", "connections", "sources"]
_MAX_OBJECT_BYTES = 1024 * 1024
MASK = "**********"
"""How pydantic renders a ``SecretStr`` in JSON, which GET returns."""


class ConfigBackend(Protocol):
    """Where the live configuration is read from and written to."""

    def snapshot(self) -> KbridgeConfig: ...

    def put(self, obj: ConfigObject) -> None: ...

    def delete(self, kind: ObjectKind, name: str) -> None: ...


@dataclass
class StoreBackend:
    """The live store (a running :class:`~processor.config.store.ConfigStore`) and its topic.

    Writes wait (briefly) until the store has read them back, so that a GET right after a
    PUT sees the new object; topics of a created bus or target are created first, so events
    can be sent to a new bus at once.
    """

    store: Any
    kafka: Any
    topic: str
    replication_factor: int | None = None
    read_back_seconds: float = 10.0

    def snapshot(self) -> KbridgeConfig:
        """The store's current snapshot."""
        config: KbridgeConfig = self.store.snapshot()
        return config

    def put(self, obj: ConfigObject) -> None:
        """Provision the object's topics, publish it, and wait until the store has it."""
        from processor.config.provision import ensure_config_topics
        from processor.config.publish import publish_object
        from processor.config.records import kind_of

        kind = kind_of(obj)
        if kind in ("bus", "target"):
            ensure_config_topics(
                self.kafka,
                KbridgeConfig.from_objects([(kind, obj)]),
                replication_factor=self.replication_factor,
            )
        publish_object(self.kafka, obj, topic=self.topic)
        self._wait(lambda: self.snapshot().get(kind, obj.name) == obj)

    def delete(self, kind: ObjectKind, name: str) -> None:
        """Publish a tombstone and wait until the store dropped the object."""
        from processor.config.publish import delete_object

        delete_object(self.kafka, kind, name, topic=self.topic)
        self._wait(lambda: self.snapshot().get(kind, name) is None)

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.read_back_seconds
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)


class PatternTest(BaseModel):
    """A pattern and an event to test it against."""

    pattern: dict[str, Any] | str = Field(description="An EventBridge event pattern.")
    event: dict[str, Any] | str = Field(description="The event (JSON form or AWS shape).")


class PatternTestResult(BaseModel):
    """Whether the event matches."""

    result: bool


def _backend(context: GatewayContext) -> ConfigBackend:
    if context.config is None:
        raise ApiError(
            503,
            "management-unavailable",
            "the management API needs the live configuration store (kbridge.rules)",
        )
    backend: ConfigBackend = context.config
    return backend


def _kind(section: str) -> ObjectKind:
    kind = KIND_OF_SECTION.get(section)
    if kind is None:
        known = ", ".join(SECTIONS.values())
        raise ApiError(404, "unknown-section", f"unknown section {section!r}; use one of {known}")
    return kind


def _public(obj: ConfigObject) -> dict[str, Any]:
    data: dict[str, Any] = obj.model_dump(mode="json")
    return data


def keep_masked_secrets(new: ConfigObject, current: ConfigObject) -> ConfigObject:
    """Keep the current secret where a client sent back the mask GET returned.

    GET masks secrets as ``**********``; a client that edits an object by GET-modify-PUT
    must not overwrite the real secret with the mask.
    """
    if type(new) is not type(current):
        return new
    updates = {
        name: getattr(current, name)
        for name in type(new).model_fields
        if isinstance(getattr(new, name), SecretStr)
        and getattr(new, name).get_secret_value() == MASK
    }
    return new.model_copy(update=updates) if updates else new


def _problem_list(problems: list[ConfigProblem]) -> list[dict[str, str]]:
    return [{"location": p.location, "message": p.message} for p in problems]


def _introduced(before: KbridgeConfig, after: KbridgeConfig) -> list[ConfigProblem]:
    old = set(check_config(before))
    return [p for p in check_config(after) if p not in old]


def _replaced(
    config: KbridgeConfig, kind: ObjectKind, obj: ConfigObject | None, name: str
) -> KbridgeConfig:
    objects = [(k, o) for k, o in config.objects() if not (k == kind and o.name == name)]
    if obj is not None:
        objects.append((kind, obj))
    return KbridgeConfig.from_objects(objects)


async def _parse(request: Request, kind: ObjectKind, name: str | None) -> ConfigObject:
    document = parse_json(await read_body(request, _MAX_OBJECT_BYTES))
    if not isinstance(document, dict):
        raise ApiError(400, "invalid-object", "the request body must be a JSON object")
    if name is not None:
        given = document.get("name", name)
        if given != name:
            raise ApiError(
                400, "name-mismatch", f"body names {given!r} but the path names {name!r}"
            )
        document = {**document, "name": name}
    try:
        return parse_object(kind, document)
    except ConfigValidationError as exc:
        raise _invalid(exc.problems) from None


def _invalid(problems: list[ConfigProblem], status: int = 400) -> ApiError:
    message = "; ".join(f"{p.location}: {p.message}" for p in problems)
    return ApiError(
        status, "invalid-object", message, details={"problems": _problem_list(problems)}
    )


async def _write(
    context: GatewayContext, kind: ObjectKind, obj: ConfigObject, *, create_only: bool
) -> JSONResponse:
    backend = _backend(context)
    live = backend.snapshot()
    current = live.get(kind, obj.name)
    existed = current is not None
    if create_only and existed:
        raise ApiError(409, "already-exists", f"{kind} {obj.name!r} already exists")
    if current is not None:
        obj = keep_masked_secrets(obj, current)
    problems = _introduced(live, _replaced(live, kind, obj, obj.name))
    if problems:
        raise _invalid(problems)
    await asyncio.to_thread(backend.put, obj)
    return JSONResponse(_public(obj), status_code=200 if existed else 201)


@router.post("/v1/test-event-pattern", response_model=PatternTestResult, summary="Test a pattern")
async def test_event_pattern(
    body: PatternTest, request: Request, context: GatewayContext = Depends(get_context)
) -> PatternTestResult:
    """Whether ``event`` matches ``pattern`` (the router's matcher; AWS's error wording)."""
    context.authorize_admin(request)
    try:
        return PatternTestResult(result=evaluate_pattern(body.pattern, body.event))
    except PatternTestError as exc:
        code = "invalid-pattern" if exc.kind == "pattern" else "invalid-event"
        raise ApiError(400, code, exc.message) from None


@router.get("/v1/events/{event_id}/trace", summary="Where an event went (docs/tracing.md)")
async def trace_event(
    event_id: str,
    request: Request,
    since: str = "24h",
    context: GatewayContext = Depends(get_context),
) -> dict[str, Any]:
    """The event's timeline: accepted, routed, delivered or dead-lettered (with the error)."""
    context.authorize_admin(request)
    return await tracing.event_trace(request.app.state.kafka, event_id, since)


@router.get("/v1/status", summary="Groups, lag, dead letters, sources (kbridge status)")
async def system_status(
    request: Request,
    max_lag: int = 1000,
    router_group: str = "kbridge-router",
    context: GatewayContext = Depends(get_context),
) -> dict[str, Any]:
    """What ``kbridge status -o json`` prints, for the live configuration (docs/operations.md)."""
    from confluent_kafka import KafkaException

    from processor.status.collect import Thresholds, collect

    context.authorize_admin(request)
    if not context.buses.loaded():  # an empty snapshot would read as "healthy"
        raise ApiError(503, "not-ready", "the configuration has not been loaded yet")
    try:
        report = await asyncio.to_thread(
            collect, _backend(context).snapshot(), request.app.state.kafka,
            router_group=router_group, thresholds=Thresholds(max_lag=max_lag),
        )  # fmt: skip
    except KafkaException as exc:  # the status is read from Kafka: without it, say so
        raise ApiError(503, "kafka-unavailable", f"cannot read the status: {exc}") from None
    return report.as_dict()


@router.get("/v1/{section}", summary="List objects of a section")
async def list_objects(
    section: Section, request: Request, context: GatewayContext = Depends(get_context)
) -> dict[str, Any]:
    """Every object of ``section`` (secrets masked)."""
    context.authorize_admin(request)
    kind = _kind(section)
    return {"items": [_public(o) for o in _backend(context).snapshot().section(kind)]}


@router.get("/v1/{section}/{name}", summary="Get one object")
async def get_object(
    section: Section, name: str, request: Request, context: GatewayContext = Depends(get_context)
) -> dict[str, Any]:
    """One object by name (secrets masked)."""
    context.authorize_admin(request)
    kind = _kind(section)
    obj = _backend(context).snapshot().get(kind, name)
    if obj is None:
        raise ApiError(404, "not-found", f"{kind} {name!r} does not exist")
    return _public(obj)


@router.post("/v1/{section}", status_code=201, summary="Create an object")
async def create_object(
    section: Section, request: Request, context: GatewayContext = Depends(get_context)
) -> JSONResponse:
    """Create an object (409 if it exists); validated like kbridge.yaml."""
    context.authorize_admin(request)
    kind = _kind(section)
    return await _write(context, kind, await _parse(request, kind, None), create_only=True)


@router.put("/v1/{section}/{name}", summary="Create or replace an object")
async def put_object(
    section: Section, name: str, request: Request, context: GatewayContext = Depends(get_context)
) -> JSONResponse:
    """Create (201) or replace (200) an object."""
    context.authorize_admin(request)
    kind = _kind(section)
    return await _write(context, kind, await _parse(request, kind, name), create_only=False)


@router.delete("/v1/{section}/{name}", status_code=204, summary="Delete an object")
async def delete_object(
    section: Section, name: str, request: Request, context: GatewayContext = Depends(get_context)
) -> Response:
    """Delete an object; 409 when other objects still refer to it."""
    context.authorize_admin(request)
    kind = _kind(section)
    backend = _backend(context)
    live = backend.snapshot()
    if live.get(kind, name) is None:
        raise ApiError(404, "not-found", f"{kind} {name!r} does not exist")
    problems = _introduced(live, _replaced(live, kind, None, name))
    if problems:
        raise _invalid(problems, status=409)
    await asyncio.to_thread(backend.delete, kind, name)
    return Response(status_code=204)


__all__ = ["ConfigBackend", "StoreBackend", "router"]
