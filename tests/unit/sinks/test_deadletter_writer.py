"""The dead-letter writer: every letter acknowledged before offsets may move, without Kafka."""

from __future__ import annotations

from processor.errors import FatalError, RetriableError
from processor.kafka.producer import Ack, Headers
from processor.sinks.base import Delivery
from processor.sinks.deadletter import DeadLetter, DeadLetterWriter


class FlakyKafka:
    """Refuses the first ``refuse`` sends, then acknowledges; records what was written."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.sends = 0
        self.written: list[tuple[str, bytes | None, bytes | None, dict[str, bytes]]] = []

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> Ack:
        self.sends += 1
        if self.sends <= self.refuse:
            raise RetriableError("broker down", code="kafka-_transport")
        decoded = {k: v for k, v in headers or () if isinstance(v, bytes)}
        self.written.append((topic, value, key, decoded))
        return (0, len(self.written) - 1)


def letter(offset: int) -> DeadLetter:
    delivery = Delivery(
        value=b'{"n": %d}' % offset,
        headers={"ce_id": f"e{offset}", "kbridge-rule": "r"},
        raw_headers=[("ce_id", f"e{offset}".encode()), ("kbridge-rule", b"r")],
        key=b"k",
        topic="kbridge.target.t",
        offset=offset,
    )
    return DeadLetter(delivery, FatalError("HTTP 400", code="http-400"), "non-retriable", 1)


async def test_unacknowledged_letters_are_retried_until_kafka_acks_them() -> None:
    kafka = FlakyKafka(refuse=2)
    writer = DeadLetterWriter(kafka, "kbridge.dlq.t", "t", retry=0.0, clock=lambda: 5.0)
    await writer.write([letter(1), letter(2)], still_ours=lambda: True)
    assert kafka.sends == 4  # both refused once, both sent again
    assert sorted(w[1] for w in kafka.written) == [b'{"n": 1}', b'{"n": 2}']
    topic, _, key, headers = kafka.written[0]
    assert topic == "kbridge.dlq.t" and key == b"k"
    assert headers["kbridge-error-code"] == b"http-400"
    assert headers["kbridge-failed-at"] == b"5.000"


async def test_writing_stops_when_the_partition_is_revoked() -> None:
    kafka = FlakyKafka(refuse=1_000)
    ours = {"left": 3}

    def still_ours() -> bool:
        ours["left"] -= 1
        return ours["left"] >= 0

    writer = DeadLetterWriter(kafka, "kbridge.dlq.t", "t", retry=0.0)
    await writer.write([letter(1)], still_ours=still_ours)
    assert kafka.sends == 3 and not kafka.written
