"""DeferredState: table writes visible at once, stored and logged only when written (after the acks), in one batch
per partition."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rocksdict import Options, Rdict

from agents import deferred_state
from agents.deferred_state import DeferredState
from agents.publish import BatchPublisher
from tests.agents.test_packing import FakeBatch


class FakeStore(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[tuple[str, int], int] = {}

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[(tp.topic, tp.partition)] = offset


class FakeTable:
    def __init__(self, name: str) -> None:
        self.data = FakeStore()
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: f"{name}-changelog")


class LogProducer:
    """Acks each batch at the next offset of its partition; or fails the batches of one topic."""

    def __init__(self, failing: str | None = None) -> None:
        self.log: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
        self.batches = 0
        self.failing = failing

    def create_batch(self) -> FakeBatch:
        return FakeBatch(capacity=1000)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        assert batch.closed
        self.batches += 1
        future = asyncio.get_running_loop().create_future()
        if topic == self.failing:
            future.set_exception(RuntimeError("broker said no"))
            return future
        records = self.log.setdefault((topic, partition), [])
        future.set_result(SimpleNamespace(offset=len(records)))
        records.extend(batch.records)
        return future


async def flush(state: DeferredState, changelog: BatchPublisher) -> None:
    """What the worker does with a batch once its outputs are acked: its writes detached, then written."""
    await state.write(state.detach(), changelog)


async def test_state_is_visible_at_once_but_stored_and_logged_only_on_flush() -> None:
    """The next record sees the new state; the store (RocksDB keeps it when the process is killed) and the
    changelog get it only after the outputs were acked."""
    table, state, producer = FakeTable("entities"), DeferredState(), LogProducer()
    table.data[b"old"] = b"o"
    state.set(table, 2, b"k", b"v1")
    state.delete(table, 2, b"missing")  # deleting what is not there logs nothing
    state.delete(table, 2, b"old")
    assert state.get(table, b"k") == b"v1"
    assert state.get(table, b"old") is None
    assert dict(table.data) == {b"old": b"o"}
    assert producer.log == {}
    await flush(state, BatchPublisher(producer))
    assert dict(table.data) == {b"k": b"v1"}
    state.delete(table, 2, b"k")
    await flush(state, BatchPublisher(producer))
    await asyncio.sleep(0)  # the ack callbacks
    assert dict(table.data) == {}
    assert producer.log == {("entities-changelog", 2): [(b"k", b"v1"), (b"old", None), (b"k", None)]}
    assert table.data.persisted == {("entities-changelog", 2): 2}  # the last record's offset


async def test_writes_are_coalesced_per_key_and_sent_as_one_batch_per_partition() -> None:
    """A key written many times in a batch logs its last value once; a write after a delete wins; each
    changelog partition gets one batch, and its store remembers the last offset it holds."""
    entities, fixtures, state, producer = FakeTable("entities"), FakeTable("fixtures"), DeferredState(), LogProducer()
    for seq in range(5):
        state.set(entities, 1, b"hot", b"v%d" % seq)
    state.set(entities, 1, b"gone", b"x")
    state.delete(entities, 1, b"gone")
    state.set(entities, 3, b"other", b"y")
    state.set(fixtures, 1, b"route", b"f")
    await flush(state, BatchPublisher(producer))
    await asyncio.sleep(0)
    assert producer.batches == 3
    assert sorted(producer.log[("entities-changelog", 1)]) == [(b"gone", None), (b"hot", b"v4")]
    assert producer.log[("entities-changelog", 3)] == [(b"other", b"y")]
    assert producer.log[("fixtures-changelog", 1)] == [(b"route", b"f")]
    assert entities.data.persisted == {("entities-changelog", 1): 1, ("entities-changelog", 3): 0}
    assert fixtures.data.persisted == {("fixtures-changelog", 1): 0}


async def test_a_changelog_batch_that_is_not_delivered_stops_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """No offset is remembered past a write Kafka did not take: the worker stops (and restarts from its commit)."""
    stopped: list[str] = []
    monkeypatch.setattr(deferred_state, "fatal", stopped.append)
    table, state = FakeTable("entities"), DeferredState()
    state.set(table, 0, b"k", b"v")
    await flush(state, BatchPublisher(LogProducer(failing="entities-changelog")))
    await asyncio.sleep(0)
    assert stopped
    assert "could not be delivered to entities-changelog[0]" in stopped[0]
    assert table.data.persisted == {}


class CountingStore(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: bytes, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


async def test_keys_read_or_written_lately_are_not_read_from_the_store_again_until_a_rebalance() -> None:
    """A key stage 2 wrote is read from memory at its next update, and one it found missing too; after
    `forget_reads` (partitions assigned: the store may hold another worker's writes) the store is read."""
    table, state = FakeTable("entities"), DeferredState()
    table.data = store = CountingStore()
    store[b"a"] = b"1"
    assert state.get(table, b"a") == b"1"
    assert state.get(table, b"missing") is None
    state.set(table, 0, b"a", b"2")
    await flush(state, BatchPublisher(LogProducer()))
    reads = store.reads
    assert [state.get(table, b"a"), state.get(table, b"missing")] == [b"2", None]
    assert store.reads == reads
    store[b"a"] = b"written elsewhere"  # restored from the changelog after the partition came back
    state.forget_reads()
    assert state.get(table, b"a") == b"written elsewhere"
    assert store.reads == reads + 1


class RocksStore:
    """The parts of Faust's rocksdict store that `DeferredState` writes through: a database per partition."""

    use_rocksdict = True

    def __init__(self, path: Path) -> None:
        self._path = path
        self._dbs: dict[int, Rdict] = {}
        self._key_index: dict[bytes, int] = {}

    def _db_for_partition(self, partition: int) -> Rdict:
        if partition not in self._dbs:
            self._dbs[partition] = Rdict(str(self._path / str(partition)), Options(raw_mode=True))
        return self._dbs[partition]

    def get(self, key: bytes, default: Any = None) -> Any:
        partition = self._key_index.get(key)
        return default if partition is None else self._db_for_partition(partition).get(key, default)

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()


async def test_a_rocksdb_store_gets_each_partitions_writes_in_its_own_database(tmp_path: Path) -> None:
    """One WriteBatch per partition, on that partition's database (not the current event's); deletes too."""
    table, state = FakeTable("entities"), DeferredState()
    table.data = store = RocksStore(tmp_path)  # type: ignore[assignment]
    try:
        store._db_for_partition(2)[b"old"] = b"o"
        store._key_index[b"old"] = 2
        state.set(table, 1, b"a", b"1")
        state.set(table, 2, b"b", b"2")
        state.delete(table, 2, b"old")
        await flush(state, BatchPublisher(LogProducer()))
        assert dict(store._db_for_partition(1).items()) == {b"a": b"1"}
        assert dict(store._db_for_partition(2).items()) == {b"b": b"2"}
        assert store._key_index == {b"old": 2, b"a": 1, b"b": 2}
    finally:
        store.close()


async def test_writes_in_the_air_are_read_newest_first_and_written_in_order() -> None:
    """A batch sent and not yet acked (agents/held.py): the next batches read its state; the store gets it
    only when it lands, and batches land in the order they went up."""
    table, state, producer = FakeTable("entities"), DeferredState(), LogProducer()
    state.set(table, 0, b"k", b"v1")
    first = state.detach()
    assert state.get(table, b"k") == b"v1"  # in the air, still read
    state.set(table, 0, b"k", b"v2")
    second = state.detach()
    assert state.get(table, b"k") == b"v2"  # the newest batch first
    assert dict(table.data) == {}
    with pytest.raises(RuntimeError, match="order"):
        await state.write(second, BatchPublisher(producer))
    await state.write(first, BatchPublisher(producer))
    assert dict(table.data) == {b"k": b"v1"}
    assert state.get(table, b"k") == b"v2"  # the second is still in the air
    await state.write(second, BatchPublisher(producer))
    assert dict(table.data) == {b"k": b"v2"}
    assert producer.log == {("entities-changelog", 0): [(b"k", b"v1"), (b"k", b"v2")]}
