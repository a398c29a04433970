"""The sink worker's partition state machine, without a broker."""

from __future__ import annotations

import threading

from processor.sinks.base import Delivery
from processor.sinks.partitions import Partition, PartitionTable


def record(offset: int, partition: int = 0, topic: str = "kbridge.target.t") -> Delivery:
    return Delivery(
        value=b"{}",
        headers={"ce_id": f"e{offset}"},
        topic=topic,
        partition=partition,
        offset=offset,
    )


def test_a_new_partition_is_created_once_and_woken_on_every_record() -> None:
    table = PartitionTable()
    created = table.add(record(0))
    assert created is not None and created.wake.is_set()
    created.wake.clear()
    assert table.add(record(1)) is None  # same partition: no new task
    assert created.wake.is_set()
    assert [d.offset for d in created.buffer] == [0, 1]
    assert table.add(record(0, partition=1)) is not None


def test_a_batch_is_whatever_is_buffered_up_to_the_size() -> None:
    table = PartitionTable()
    state = table.add(record(0))
    assert state is not None
    assert [d.offset for d in state.take(10)] == [0]  # light load: one record, at once
    for i in range(1, 8):
        table.add(record(i))
    batch = state.take(5)
    assert [d.offset for d in batch] == [1, 2, 3, 4, 5]
    state.put_back(batch)  # a failed batch goes back in front, in order
    assert [d.offset for d in state.buffer] == [1, 2, 3, 4, 5, 6, 7]


def test_flow_control_pauses_waiting_or_full_partitions_and_resumes_them() -> None:
    table = PartitionTable()
    a = table.add(record(0, partition=0))
    b = table.add(record(0, partition=1))
    assert a is not None and b is not None
    a.waiting = True
    for i in range(1, 3):
        table.add(record(i, partition=1))
    pause, resume = table.flow_control(max_buffered=3)
    assert sorted(pause) == [("kbridge.target.t", 0), ("kbridge.target.t", 1)]
    assert resume == [] and table.paused_count() == 2
    assert table.flow_control(max_buffered=3) == ([], [])  # no repeated pause
    a.waiting = False
    b.take(3)
    pause, resume = table.flow_control(max_buffered=3)
    assert pause == [] and sorted(resume) == [("kbridge.target.t", 0), ("kbridge.target.t", 1)]
    assert table.paused_count() == 0


def test_commit_positions_are_taken_once_and_only_move_forward() -> None:
    table = PartitionTable()
    state = table.add(record(0))
    assert state is not None
    assert table.done(state, 5)
    assert table.take_commits() == {("kbridge.target.t", 0): 5}
    assert table.take_commits() == {}
    table.restore_commits({("kbridge.target.t", 0): 5})  # the commit failed: keep it
    assert table.done(state, 9)  # a newer position supersedes the failed one
    table.restore_commits({("kbridge.target.t", 0): 5})
    assert table.take_commits() == {("kbridge.target.t", 0): 9}


def test_a_revoked_partition_never_records_a_commit_position() -> None:
    table = PartitionTable()
    state = table.add(record(0))
    other = table.add(record(0, partition=1))
    assert state is not None and other is not None
    table.done(state, 3)
    table.done(other, 4)
    revoked = table.revoke({("kbridge.target.t", 0)}, keep_commits=False)  # lost, not revoked
    assert revoked == [state] and state.revoked
    assert not table.done(state, 7)  # the task learns it must stop
    table.restore_commits({("kbridge.target.t", 0): 3})  # a late failed commit stays dropped
    assert table.take_commits() == {("kbridge.target.t", 1): 4}


def test_a_revocation_keeps_settled_positions_for_the_final_commit() -> None:
    table = PartitionTable()
    state = table.add(record(0))
    assert state is not None
    table.done(state, 3)
    table.revoke({("kbridge.target.t", 0)}, keep_commits=True)
    assert table.take_commits({("kbridge.target.t", 0)}) == {("kbridge.target.t", 0): 3}
    # a record consumed after the revocation starts a fresh partition state (and task)
    fresh = table.add(record(3))
    assert fresh is not None and fresh is not state and not fresh.revoked


def test_done_and_revoke_are_atomic_across_threads() -> None:
    """Rebalance callbacks run on the consumer thread; a task may finish at the same time.
    Either the position is recorded before the revocation (and committed by it) or the task
    is told to stop: never a position recorded after the revocation."""
    for _ in range(200):
        table = PartitionTable()
        state = table.add(record(0))
        assert state is not None
        results: dict[str, object] = {}

        def finish(
            table: PartitionTable = table,
            state: Partition = state,
            results: dict[str, object] = results,
        ) -> None:
            results["done"] = table.done(state, 1)

        t = threading.Thread(target=finish)
        t.start()
        table.revoke({state.key}, keep_commits=True)
        taken = table.take_commits({state.key})
        t.join()
        if results["done"]:
            assert taken == {state.key: 1}  # recorded before the revocation: committed by it
        else:
            assert taken == {}
        assert table.take_commits() == {}
