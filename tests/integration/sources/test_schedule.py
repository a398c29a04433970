"""Schedule source on real Kafka with a simulated clock: exactly one event per tick."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processor.clock import ManualClock
from processor.config.sources import ScheduleSource as ScheduleConfig
from processor.events import encode
from processor.kafka.admin import delete_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.kafka.topics import bus_topic
from processor.sources.schedule import LeadershipLost, ScheduleSource, TickWriter, tick_event

pytestmark = [pytest.mark.kafka]

START = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
EXPECTED = [START - timedelta(seconds=10) + timedelta(minutes=k) for k in range(1, 61)]


@pytest.fixture
def state_topic(kafka_config: KafkaClientConfig, unique: str) -> Iterator[str]:
    name = f"kbridge.schedules.test-{unique}"
    yield name
    delete_topics(kafka_config, [name])


@dataclass
class Schedules:
    """One test's schedule world: a manual clock, the bus reader and a source factory."""

    bus: str
    unique: str
    producer: Producer
    kafka: KafkaClientConfig
    state: str
    ingress: Any
    running: Any
    clock: ManualClock = field(default_factory=lambda: ManualClock(START, auto_advance=False))

    def source(self) -> ScheduleSource:
        """Another process running the same schedule (same name, state topic and group)."""
        config = ScheduleConfig(
            name=f"every-minute-{self.unique}",
            bus=self.bus,
            expression="rate(1 minute)",
            data={"job": "report"},
        )
        return ScheduleSource(
            config, self.producer, kafka=self.kafka, clock=self.clock, state_topic=self.state
        )


@pytest.fixture
def world(
    kafka_config: KafkaClientConfig,
    bus: str,
    unique: str,
    producer: Producer,
    reader: Any,
    running: Any,
    state_topic: str,
) -> Schedules:
    return Schedules(
        bus, unique, producer, kafka_config, state_topic, reader(bus_topic(bus)), running
    )


async def advance(clock: ManualClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(timedelta(minutes=1))
        await asyncio.sleep(0.01)


async def until_leading(*sources: ScheduleSource) -> ScheduleSource:
    for _ in range(600):
        for source in sources:
            if source.leading.is_set():
                return source
        await asyncio.sleep(0.05)
    raise AssertionError("no schedule source became leader within 30 s")


def check_exactly_one_per_minute(reader: Any) -> None:
    events = reader.events()
    ticks = [datetime.fromisoformat(e.time) for e in events]
    assert ticks == EXPECTED
    assert len({e.id for e in events}) == 60
    assert {(e.type, e.source) for e in events} == {("Scheduled Event", "kbridge.schedule")}
    assert all(e.data == {"job": "report"} for e in events)


async def test_rate_one_minute_over_a_simulated_hour_gives_60_events(world: Schedules) -> None:
    source, ingress = world.source(), world.ingress
    async with world.running(source):
        await until_leading(source)
        await advance(world.clock, 60)
        await ingress.wait_for(60)
        await ingress.settle(1.5)
    check_exactly_one_per_minute(ingress)
    assert {m.key() for m in ingress.messages} == {f"every-minute-{world.unique}".encode()}


async def test_restart_resumes_from_the_last_tick_in_the_state_topic(world: Schedules) -> None:
    first, ingress = world.source(), world.ingress
    async with world.running(first):
        await until_leading(first)
        await advance(world.clock, 25)
        await ingress.wait_for(25)
    await advance(world.clock, 10)  # nobody running for ten minutes: caught up on restart
    second = world.source()
    async with world.running(second):
        await until_leading(second)
        await advance(world.clock, 25)
        await ingress.wait_for(60)
        await ingress.settle(1.5)
    check_exactly_one_per_minute(ingress)


async def test_two_processes_emit_each_tick_once_across_a_leader_change(
    world: Schedules,
) -> None:
    ingress, clock, running = world.ingress, world.clock, world.running
    a, b = world.source(), world.source()
    async with running(a), running(b):
        leader = await until_leading(a, b)
        await advance(clock, 30)
        await ingress.wait_for(30)
        assert not (a.leading.is_set() and b.leading.is_set())
        other = b if leader is a else a
        await leader.stop()  # clean leave: the other takes over
        await until_leading(other)
        await advance(clock, 30)
        await ingress.wait_for(60)
        await ingress.settle(1.5)
    check_exactly_one_per_minute(ingress)
    assert a.published > 0 and b.published > 0


async def test_a_new_leader_fences_the_old_one_out_of_kafka(
    kafka_config: KafkaClientConfig,
    bus: str,
    unique: str,
    reader: Any,
    state_topic: str,
) -> None:
    """A paused ex-leader that wakes up after a takeover cannot write a late tick."""
    from processor.kafka.admin import TopicSpec, ensure_topics

    ensure_topics(kafka_config, [TopicSpec.compacted(state_topic)])
    ingress = reader(bus_topic(bus))
    transactional_id = f"kbridge-schedule-fence-{unique}"

    def record(minute: int) -> Any:
        tick = START + timedelta(minutes=minute)
        event = tick_event(f"fence-{unique}", tick, {})
        encoded = encode(event, "binary")
        return (bus_topic(bus), encoded.key, encoded.value, list(encoded.headers))

    old = await asyncio.to_thread(TickWriter, kafka_config, transactional_id)
    await asyncio.to_thread(old.write, [record(1)])
    new = await asyncio.to_thread(TickWriter, kafka_config, transactional_id)
    with pytest.raises(LeadershipLost):
        await asyncio.to_thread(old.write, [record(2)])
    await asyncio.to_thread(new.write, [record(2)])
    await ingress.wait_for(2)
    await ingress.settle(1.0)
    minutes = [datetime.fromisoformat(e.time) - START for e in ingress.events()]
    assert minutes == [timedelta(minutes=1), timedelta(minutes=2)]
    await asyncio.to_thread(new.close)
