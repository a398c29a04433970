"""MultiSink: one worker task per selected target, following the configuration (no broker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from processor.sinks.multi import MultiSink, TargetSelection


@dataclass(frozen=True)
class T:
    name: str
    kind: str


@dataclass
class Config:
    targets: tuple[T, ...]


class Workers:
    """Records starts and stops; a worker named in ``fail`` raises once."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.fail = fail or set()

    async def __call__(self, name: str, stop: asyncio.Event) -> None:
        self.started.append(name)
        if name in self.fail:
            self.fail.discard(name)
            raise RuntimeError(f"{name} broke")
        await stop.wait()
        self.stopped.append(name)


def test_selection() -> None:
    config = Config((T("a", "webhook"), T("b", "mysql"), T("c", "webhook")))
    assert TargetSelection.of(["b"]).pick(config) == {"b"}
    assert TargetSelection.of(every=True).pick(config) == {"a", "b", "c"}
    assert TargetSelection.of(kinds=["webhook"]).pick(config) == {"a", "c"}
    assert TargetSelection.of(["later"], kinds=["mysql"]).pick(config) == {"later", "b"}


async def test_targets_added_and_removed_live_others_untouched() -> None:
    config: dict[str, Any] = {"now": Config((T("a", "webhook"), T("b", "webhook")))}
    workers = Workers()
    multi = MultiSink(TargetSelection.of(every=True), lambda: config["now"], workers)
    await multi.reconcile()
    assert sorted(multi.running) == ["a", "b"]
    first_a = multi.running["a"].task

    config["now"] = Config((T("a", "webhook"), T("c", "webhook")))
    await multi.reconcile()
    assert sorted(multi.running) == ["a", "c"]
    assert workers.stopped == ["b"]
    assert multi.running["a"].task is first_a  # a kept running, not restarted
    assert not first_a.done()

    stop = asyncio.Event()
    stop.set()
    await multi.run(stop)  # stopping the process stops every worker
    assert sorted(workers.stopped) == ["a", "b", "c"]
    assert multi.running == {}


async def test_a_failed_worker_is_restarted_alone() -> None:
    config = Config((T("a", "webhook"), T("b", "webhook")))
    workers = Workers(fail={"b"})
    multi = MultiSink(TargetSelection.of(every=True), lambda: config, workers)
    await multi.reconcile()
    a_task = multi.running["a"].task
    await asyncio.sleep(0)  # b raises
    await multi.reconcile()
    await asyncio.sleep(0)  # the new b task starts
    assert workers.started.count("b") == 2
    assert multi.running["a"].task is a_task
    await multi._stop(["a", "b"])


async def test_a_target_whose_setup_fails_waits_while_the_others_run() -> None:
    config = Config((T("a", "webhook"), T("b", "webhook")))
    broken = {"b"}

    def prepare(name: str) -> None:
        if name in broken:
            raise OSError("topic creation failed")

    multi = MultiSink(TargetSelection.of(every=True), lambda: config, Workers(), prepare=prepare)
    await multi.reconcile()
    assert sorted(multi.running) == ["a"]
    broken.clear()
    await multi.reconcile()
    assert sorted(multi.running) == ["a", "b"]
    await multi._stop(["a", "b"])
