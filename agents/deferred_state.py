"""Table writes held back until the outputs they describe are acked, then stored and logged in batches."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from typing import Any

from faust.types import TP
from rocksdict import WriteBatch

from agents.guard import fatal
from agents.publish import BatchPublisher, Sent

Writes = dict[tuple[int, bytes], tuple[Any, int, bytes | None]]  # (table id, key) -> (table, partition, value)


class DeferredState:
    """Table writes held back until the outputs they describe are acknowledged by Kafka.

    Reads through `get` see the pending writes at once (the next candidate must see the new state);
    the table's store and its changelog get them only in `write`, called after the batch's outputs
    were acknowledged. Were either written first, a crash in between would leave a state claiming
    versions that were never published (a loss): restored from the changelog, or still on local
    disk with a persistent store (RocksDB keeps what was written when the process is killed).
    Writes are coalesced: a key written many times in a batch is stored and sent once.

    A batch whose outputs are in the air (`agents/held.py`) takes its writes with `detach`, and
    `write`s them when it lands; reads see them meanwhile (the newest batch first), and batches land in
    the order they were detached.

    The changelog records go out as one batch per changelog partition (`Table.send_changelog` costs
    ~45 µs a record and sends most of them in a produce request of their own). As with Faust's own
    changelog writes, the acks are not awaited here: Faust flushes the producer before it commits an
    offset. When a batch is acked, the store remembers its last offset (`set_persisted_offset`, what
    Faust's send callback does), so a restart reads the changelog only from there; a batch that cannot
    be delivered stops the worker.
    """

    def __init__(self, known_size: int = 50_000) -> None:
        self._writes: Writes = {}
        self._in_the_air: deque[Writes] = deque()  # detached, not written yet: oldest first
        self._stores: dict[str, Any] = {}  # changelog topic -> the store it restores
        self._topics: dict[int, str] = {}  # table -> its changelog topic
        # What the stores hold for keys read or written lately: a read through Faust's store (its
        # serializer layers, then RocksDB) costs several µs, and stage 2 reads each key it writes
        # again at its next update. Only this worker writes its active partitions' keys; after a
        # rebalance the stores may hold what another worker wrote, so the owner calls `forget_reads`.
        self._known: dict[tuple[int, bytes], bytes | None] = {}
        self._known_size = known_size

    def get(self, table: Any, key: bytes) -> bytes | None:
        slot = (id(table), key)
        pending = self._writes.get(slot)
        if pending is not None:
            return pending[2]
        for writes in reversed(self._in_the_air):
            pending = writes.get(slot)
            if pending is not None:
                return pending[2]
        try:
            return self._known[slot]
        except KeyError:
            value: bytes | None = table.data.get(key)
            self._remember(slot, value)
            return value

    def forget_reads(self) -> None:
        """Read the stores again: partitions were assigned (restored from their changelogs, maybe written by
        another worker meanwhile)."""
        self._known.clear()

    def _remember(self, slot: tuple[int, bytes], value: bytes | None) -> None:
        if len(self._known) >= self._known_size:
            self._known.clear()  # bounded: the keys in play refill it at once
        self._known[slot] = value

    def set(self, table: Any, partition: int, key: bytes, value: bytes) -> None:
        self._writes[(id(table), key)] = (table, partition, value)

    def delete(self, table: Any, partition: int, key: bytes) -> None:
        if self.get(table, key) is not None:
            self._writes[(id(table), key)] = (table, partition, None)

    def detach(self) -> Writes:
        """The batch's writes, to `write` once its outputs are acked; still read meanwhile."""
        writes, self._writes = self._writes, {}
        self._in_the_air.append(writes)
        return writes

    async def write(self, writes: Writes, changelog: BatchPublisher) -> None:
        """Write a detached batch (the oldest in the air) to the stores and its changelogs (acks watched)."""
        if not self._in_the_air or self._in_the_air[0] is not writes:
            raise RuntimeError("detached table writes must be written in the order they were detached")
        stored: dict[tuple[int, int], tuple[Any, int, list[tuple[bytes, bytes | None]]]] = {}
        for slot, (table, partition, value) in writes.items():
            stored.setdefault((slot[0], partition), (table.data, partition, []))[2].append((slot[1], value))
            self._remember(slot, value)
            await changelog.add(self._changelog_of(table), slot[1], value, [], partition=partition)
        self._in_the_air.popleft()
        for store, partition, items in stored.values():
            _write(store, partition, items)
        for sent in await changelog.send():
            sent.future.add_done_callback(functools.partial(self._logged, sent))

    def _changelog_of(self, table: Any) -> str:
        topic: str | None = self._topics.get(id(table))
        if topic is None:
            topic = self._topics[id(table)] = table.changelog_topic.get_topic_name()
            self._stores[topic] = table.data
        return topic

    def _logged(self, sent: Sent, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            fatal(f"a changelog batch could not be delivered to {sent.topic}[{sent.partition}]: "
                  f"{'cancelled' if future.cancelled() else repr(future.exception())}")
            return
        last = future.result().offset + sent.records - 1
        self._stores[sent.topic].set_persisted_offset(TP(sent.topic, sent.partition), last)


def _write(store: Any, partition: int, items: list[tuple[bytes, bytes | None]]) -> None:
    """Apply one partition's writes (None: delete) to a table's store.

    A RocksDB store (rocksdict) gets them as one `WriteBatch` on the partition's database, as Faust's
    own `apply_changelog_batch` writes a changelog batch: one write to RocksDB's log instead of one per
    key (a put was ~3 % of the worker's samples at 1,000 updates/s), and all or none of a batch after a
    crash. The partition is the one the keys were processed in (Faust's `Store._set` takes it from the
    current event, the same one). Other stores (memory) are written key by key.
    """
    if not getattr(store, "use_rocksdict", False):
        for key, value in items:
            if value is None:
                if store.get(key) is not None:
                    del store[key]
            else:
                store[key] = value
        return
    batch = WriteBatch(raw_mode=True)
    for key, value in items:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
            store._key_index[key] = partition  # what Store._set records, for reads outside an event
    store._db_for_partition(partition).write(batch)
