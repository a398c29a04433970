"""Several targets in one sink process, each still on its own (``kbridge sink --all``).

Fifty targets used to mean fifty processes. Here one process runs one
:class:`~processor.sinks.worker.SinkWorker` per selected target, as independent asyncio
tasks: each keeps its own consumer group (``kbridge-sink-<target>``), egress topic, retry
state, concurrency and commit thread, exactly as in a process of its own, so a slow or
hanging destination holds only its own task (delivery is non-blocking I/O; polls and
commits run on the thread pool, sized here so that no target waits for a thread).

The set of targets follows the live configuration: every ``interval`` seconds the selection
(names, ``--all``, ``--kind``) is evaluated against the current snapshot; a target that
appears gets a worker (its topics created first), one that disappears has its worker
stopped. A worker that fails is logged and started again at the next evaluation, without
touching the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

StartWorker = Callable[[str, asyncio.Event], Coroutine[Any, Any, None]]
"""Runs the worker of one target until its event is set."""


@dataclass(frozen=True)
class TargetSelection:
    """Which targets a process runs: named ones, every one, or every one of some kinds."""

    names: frozenset[str] = frozenset()
    every: bool = False
    kinds: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, names: Iterable[str] = (), every: bool = False, kinds: Iterable[str] = ()
    ) -> TargetSelection:
        return cls(frozenset(names), every, frozenset(kinds))

    def describe(self) -> str:
        """The selection as messages name it: ``every target``, ``kind webhook, target a``."""
        if self.every:
            return "every target"
        parts = [f"kind {k}" for k in sorted(self.kinds)]
        parts += [f"target {n}" for n in sorted(self.names)]
        return ", ".join(parts) or "no target"

    def pick(self, config: Any) -> set[str]:
        """The selected targets of ``config``; named ones even before they are defined."""
        chosen = set(self.names)
        for target in config.targets:
            if self.every or target.kind in self.kinds:
                chosen.add(target.name)
        return chosen


#: Longest wait before a target whose worker keeps failing (or whose topics cannot be
#: created) is tried again; the first retry is at the next check, then 2, 4, 8 ... s.
MAX_RETRY_DELAY = 30.0
#: A worker that ran this long before failing counts as healthy: its next retry is quick.
HEALTHY_AFTER = 60.0
#: Threads of the shared pool per selected target: its blocking poll, a commit, a close.
THREADS_PER_TARGET = 3
#: Least size of the pool (threads are only created when a call needs one).
MIN_THREADS = 64


def retry_delay(failures: int) -> float:
    """Seconds before the next start after ``failures`` consecutive failures (1: none)."""
    return 0.0 if failures <= 1 else min(MAX_RETRY_DELAY, 2.0 ** (failures - 1))


@dataclass
class _Running:
    stop: asyncio.Event
    task: asyncio.Task[None]
    started: float = 0.0


@dataclass
class MultiSink:
    """Starts and stops one worker task per selected target as the configuration changes."""

    selection: TargetSelection
    snapshot: Callable[[], Any]
    start_worker: StartWorker
    prepare: Callable[[str], None] = lambda _name: None
    """Blocking set-up before a target's worker starts (its topics); run on a thread."""
    interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    running: dict[str, _Running] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    """Consecutive failures per target (a worker that failed or could not be set up)."""
    not_before: dict[str, float] = field(default_factory=dict)
    pool_size: int = 0
    """Size of the loop's default thread pool as set here (0: not yet)."""
    pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the selection until ``stop`` is set; then stop every worker."""
        try:
            while not stop.is_set():
                await self.reconcile()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            await self._stop(list(self.running))

    async def reconcile(self) -> None:
        """Start workers for newly selected targets, stop those no longer selected.

        A worker that failed is started again, at once the first time and then after a
        doubling delay (up to :data:`MAX_RETRY_DELAY`), so a target that keeps failing
        neither floods the log nor rejoins its group every second; the others never wait.
        """
        now = self.clock()
        for name, entry in list(self.running.items()):
            if entry.task.done():  # failed (or returned): restarted below if still wanted
                del self.running[name]
                error = None if entry.task.cancelled() else entry.task.exception()
                if now - entry.started >= HEALTHY_AFTER:
                    self.failures.pop(name, None)
                delay = self._failed(name, now)
                log.error(
                    "sink worker of %s ended (%r); starting it again in %.0f s",
                    name,
                    error,
                    delay,
                    extra={"target": name, "error": repr(error)},
                )
        wanted = self.selection.pick(self.snapshot())
        self._size_pool(len(wanted))
        await self._stop([name for name in self.running if name not in wanted])
        for name in set(self.failures) - wanted:  # deselected: a later return starts afresh
            self.failures.pop(name, None)
            self.not_before.pop(name, None)
        for name in sorted(wanted - set(self.running)):
            if self.not_before.get(name, 0.0) > now:
                continue
            try:
                await asyncio.to_thread(self.prepare, name)
            except Exception as exc:  # this target waits; the others run
                delay = self._failed(name, now)
                log.error(
                    "sink worker of %s not started (%s); trying again in %.0f s",
                    name,
                    exc,
                    delay,
                    extra={"target": name, "error": str(exc)},
                )
                continue
            event = asyncio.Event()
            task = asyncio.create_task(self.start_worker(name, event), name=f"sink-{name}")
            self.running[name] = _Running(event, task, started=now)
            log.info("sink worker of %s added", name, extra={"target": name})

    def _size_pool(self, targets: int) -> None:
        """Give ``asyncio.to_thread`` enough threads that no target's poll waits for one.

        Every worker parks a thread in its poll most of the time; the default pool
        (``cpu + 4`` threads) would make targets queue for each other. The pool grows with
        the selection (a pool cannot be resized: a bigger one replaces it, and calls already
        running on the old one finish there).
        """
        wanted = max(MIN_THREADS, THREADS_PER_TARGET * targets + 16)
        if wanted <= self.pool_size:
            return
        pool = ThreadPoolExecutor(max_workers=wanted, thread_name_prefix="kbridge-sink")
        asyncio.get_running_loop().set_default_executor(pool)
        if self.pool is not None:
            self.pool.shutdown(wait=False)  # its idle threads end, running calls finish
        self.pool, self.pool_size = pool, wanted
        log.debug("thread pool sized for %d targets: %d threads", targets, wanted)

    def _failed(self, name: str, now: float) -> float:
        failures = self.failures[name] = self.failures.get(name, 0) + 1
        delay = retry_delay(failures)
        self.not_before[name] = now + delay
        return delay

    async def _stop(self, names: list[str]) -> None:
        entries = [self.running.pop(name) for name in names if name in self.running]
        for entry in entries:
            entry.stop.set()
        if entries:
            await asyncio.gather(*(e.task for e in entries), return_exceptions=True)
        for entry_name in names:
            log.info("sink worker of %s removed", entry_name, extra={"target": entry_name})
