"""Batched publishing for the worker's hot path: records appended to per-partition batches, sent, acked once.

Faust's `Topic.send` costs ~45 µs per record (FutureMessage, sensors, callbacks); a record
appended to an aiokafka batch costs a few. The partition is Kafka's default for the key (murmur2,
the Java client's choice, so every client agrees where a key lives), cached per key.

`flush()` returns once Kafka acknowledged every record appended since the last flush. A record
that cannot be delivered (past the producer's own retries) stops the worker (`guard.fatal`)
before the caller commits or acks the input it came from: at-least-once, never lost.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from agents import guard
from runtime.backoff import Backoff

log = logging.getLogger(__name__)
_ENQUEUE_ATTEMPTS = 5
_ENQUEUE_BACKOFF = Backoff(base_s=0.2, cap_s=5.0)


class Partitions:
    """Kafka's default partition of a key (murmur2 & 0x7fffffff mod count), cached per key."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._cache: dict[tuple[bytes, int], int] = {}
        self._max_keys = max_keys

    def of(self, key: bytes, count: int) -> int:
        cached = self._cache.get((key, count))
        if cached is None:
            if len(self._cache) >= self._max_keys:
                self._cache.clear()  # bounded: a hot set refills it at once
            cached = self._cache[(key, count)] = (murmur2(key) & 0x7FFFFFFF) % count
        return cached


@dataclass(frozen=True, slots=True)
class Sent:
    """One batch handed to the producer: its future gives the offset of its first record once acked."""

    topic: str
    partition: int
    records: int
    future: asyncio.Future[Any]


class BatchPublisher:
    """Appends records to one aiokafka batch per (topic, partition); `flush` sends them and awaits the acks."""

    def __init__(self, producer: Any, partitions: Partitions | None = None) -> None:
        self._producer = producer
        self._partitions = partitions or Partitions()
        self._counts: dict[str, int] = {}
        self._open: dict[tuple[str, int], Any] = {}
        self._sent: list[Sent] = []
        self.pending = 0

    async def partition_count(self, topic: str) -> int:
        count = self._counts.get(topic)
        if count is None:
            count = self._counts[topic] = len(await self._producer.partitions_for(topic))
        return count

    async def partition_of(self, topic: str, key: bytes) -> int:
        return self._partitions.of(key, self._counts.get(topic) or await self.partition_count(topic))

    def partition_for(self, key: bytes, count: int) -> int:
        return self._partitions.of(key, count)

    async def add(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
                  partition: int | None = None) -> None:
        """Append a record (`value` None: a tombstone) to its partition's open batch."""
        if partition is None:
            partition = await self.partition_of(topic, key or b"")
        tp = (topic, partition)
        batch = self._open.get(tp)
        if batch is None:
            batch = self._open[tp] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._submit(tp, self._open.pop(tp))  # full: send it, start another
            batch = self._open[tp] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                guard.fatal(f"a record of {len(value or b'')} bytes does not fit in a batch for {topic}")
        self.pending += 1

    async def flush(self) -> None:
        """Send every open batch and wait until Kafka acknowledged all of them (or stop the worker)."""
        await settle(await self.send())

    async def send(self) -> list[Sent]:
        """Send every open batch without waiting for the acks: the caller awaits or watches the futures."""
        while self._open:
            tp, batch = self._open.popitem()
            await self._submit(tp, batch)
        sent, self._sent = self._sent, []
        self.pending = 0
        return sent

    async def _submit(self, tp: tuple[str, int], batch: Any) -> None:
        batch.close()
        for attempt in range(_ENQUEUE_ATTEMPTS):
            try:
                future = await self._producer.send_batch(batch, tp[0], partition=tp[1])
            except Exception as exc:  # noqa: BLE001 - any producer failure is retried, then fatal
                if attempt == _ENQUEUE_ATTEMPTS - 1:
                    guard.fatal(f"cannot publish to {tp[0]}[{tp[1]}]: {exc!r}")
                log.warning("cannot enqueue a batch for %s[%d] (%r); retrying", tp[0], tp[1], exc)
                await asyncio.sleep(_ENQUEUE_BACKOFF.delay(attempt))
                continue
            self._sent.append(Sent(tp[0], tp[1], batch.record_count(), future))
            return


async def settle(sent: list[Sent]) -> None:
    """Wait until Kafka acknowledged every batch in `sent`; a batch that could not be delivered stops the worker."""
    if not sent:
        return
    for outcome in await asyncio.gather(*(s.future for s in sent), return_exceptions=True):
        if isinstance(outcome, BaseException):
            guard.fatal(f"a record could not be delivered to Kafka: {outcome!r}")
