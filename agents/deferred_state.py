"""Table writes held back until the outputs they describe are acked, then stored and logged in batches."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from faust.types import TP

from agents.guard import fatal
from agents.publish import BatchPublisher, Sent


class DeferredState:
    """Table writes held back until the outputs they describe are acknowledged by Kafka.

    Reads through `get` see the pending writes at once (the next candidate must see the new state);
    the table's store and its changelog get them only in `flush`, called after the batch's outputs
    were acknowledged. Were either written first, a crash in between would leave a state claiming
    versions that were never published (a loss): restored from the changelog, or still on local
    disk with a persistent store (RocksDB keeps what was written when the process is killed).
    Writes are coalesced: a key written many times in a batch is stored and sent once.

    The changelog records go out as one batch per changelog partition (`Table.send_changelog` costs
    ~45 µs a record and sends most of them in a produce request of their own). As with Faust's own
    changelog writes, the acks are not awaited here: Faust flushes the producer before it commits an
    offset. When a batch is acked, the store remembers its last offset (`set_persisted_offset`, what
    Faust's send callback does), so a restart reads the changelog only from there; a batch that cannot
    be delivered stops the worker.
    """

    def __init__(self) -> None:
        self._writes: dict[tuple[int, bytes], tuple[Any, int, bytes | None]] = {}
        self._stores: dict[str, Any] = {}  # changelog topic -> the store it restores

    def get(self, table: Any, key: bytes) -> bytes | None:
        pending = self._writes.get((id(table), key))
        return pending[2] if pending is not None else table.data.get(key)

    def set(self, table: Any, partition: int, key: bytes, value: bytes) -> None:
        self._writes[(id(table), key)] = (table, partition, value)

    def delete(self, table: Any, partition: int, key: bytes) -> None:
        if self.get(table, key) is not None:
            self._writes[(id(table), key)] = (table, partition, None)

    async def flush(self, changelog: BatchPublisher) -> None:
        """Write the batch's changes to the stores, and send them to the changelogs (acks watched, not awaited)."""
        for (_, key), (table, partition, value) in self._writes.items():
            if value is None:
                if table.data.get(key) is not None:
                    del table.data[key]
            else:
                table.data[key] = value
            topic = table.changelog_topic.get_topic_name()
            self._stores.setdefault(topic, table.data)
            await changelog.add(topic, key, value, [], partition=partition)
        self._writes.clear()
        for sent in await changelog.send():
            sent.future.add_done_callback(functools.partial(self._logged, sent))

    def _logged(self, sent: Sent, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            fatal(f"a changelog batch could not be delivered to {sent.topic}[{sent.partition}]: "
                  f"{'cancelled' if future.cancelled() else repr(future.exception())}")
            return
        last = future.result().offset + sent.records - 1
        self._stores[sent.topic].set_persisted_offset(TP(sent.topic, sent.partition), last)
