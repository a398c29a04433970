"""Run one configured source until SIGINT/SIGTERM, following live config changes.

Kept apart from the CLI so that tests and embedding code can run a source the way
``kbridge source <name>`` does. With a live :class:`~processor.config.store.ConfigStore`, a
change of this source's definition stops the running instance cleanly (in-flight messages are
settled first) and starts one with the new definition; deleting the source ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from typing import Any

from processor.config.references import resolve_model
from processor.errors import ConfigError
from processor.kafka.config import KafkaClientConfig
from processor.kafka.producer import Producer
from processor.sources.base import Source, source_class
from processor.trace import writer as trace_writer

log = logging.getLogger(__name__)

BROKER_KINDS = ("mqtt", "amqp", "nats", "kafka", "schedule")


def build_source(config: Any, producer: Producer, kafka: KafkaClientConfig) -> Source:
    """The source implementation for ``config`` (imports only the module of its kind)."""
    if config.kind not in BROKER_KINDS:
        raise ConfigError(
            f"source {config.name!r} is a {config.kind!r} webhook source: the gateway serves it "
            f"at /webhooks/{config.name}; `kbridge source` runs {', '.join(BROKER_KINDS)}"
        )
    importlib.import_module(f"processor.sources.{config.kind}")
    config = resolve_model(config)  # ${env:VAR} / ${file:/path}: resolved here, not stored
    cls = source_class(config.kind)
    if config.kind == "schedule":
        return cls(config, producer, kafka=kafka)  # type: ignore[call-arg]
    return cls(config, producer)


class SourceRunner:
    """Owns the producer and the current source instance of one source name."""

    def __init__(self, name: str, config: Any, kafka: KafkaClientConfig) -> None:
        self.name = name
        self.config = config
        self.kafka = kafka
        self.source: Source | None = None
        self.state = "starting"
        """starting, running, stopped or failed: ``kbridge_source_state`` and ``/readyz``."""
        self._finished_counts = (0, 0, 0)
        self._replaced = asyncio.Event()
        self._finished = False
        self._tasks: set[asyncio.Future[None]] = set()

    @property
    def kind(self) -> str:
        """The current definition's kind ("" once deleted)."""
        return str(getattr(self.config, "kind", ""))

    @property
    def bus(self) -> str:
        """The current definition's bus ("" once deleted)."""
        return str(getattr(self.config, "bus", ""))

    @property
    def session_failures(self) -> int:
        """Failed upstream sessions, over every instance this runner ran."""
        current = self.source.session_failures if self.source is not None else 0
        return self._finished_counts[2] + current

    def totals(self) -> tuple[int, int]:
        """Events published and dead-lettered, over every instance this runner ran."""
        published, dead, _ = self._finished_counts
        if self.source is not None:
            published += self.source.published
            dead += self.source.dead_lettered
        return published, dead

    def _retire(self, source: Source) -> None:
        published, dead, failures = self._finished_counts
        self._finished_counts = (
            published + source.published,
            dead + source.dead_lettered,
            failures + source.session_failures,
        )
        self.source = None

    def _stop_current(self) -> None:
        if self.source is not None:
            task = asyncio.ensure_future(self.source.stop())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def replace(self, config: Any | None) -> None:
        """New definition (``None``: deleted); call from the event loop thread."""
        self.config = config
        self._replaced.set()
        self._stop_current()

    def shutdown(self) -> None:
        """Stop for good (signal handler)."""
        self._finished = True
        self._replaced.set()
        self._stop_current()

    async def run(self) -> None:
        producer = Producer(self.kafka)
        trace_writer.start(self.kafka, by="source")  # docs/tracing.md
        try:
            while not self._finished and self.config is not None:
                self._replaced.clear()
                self.state = "starting"
                source = self.source = build_source(self.config, producer, self.kafka)
                await source.setup()
                self.state = "running"
                log.info(
                    "source running",
                    extra={"source": self.name, "kind": self.config.kind, "bus": source.bus},
                )
                try:
                    await source.run()
                except BaseException:
                    self.state = "failed"
                    raise
                log.info(
                    "source stopped",
                    extra={
                        "source": self.name,
                        "published": source.published,
                        "dead_lettered": source.dead_lettered,
                    },
                )
                self._retire(source)
                if not self._replaced.is_set():
                    break
            if self.config is None:
                log.info("source deleted from the configuration", extra={"source": self.name})
        finally:
            if self.state != "failed":
                self.state = "stopped"
            await asyncio.to_thread(producer.close)


async def run_until_signalled(runner: SourceRunner) -> None:
    """Run ``runner``; SIGINT/SIGTERM stop it cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, runner.shutdown)
    await runner.run()
