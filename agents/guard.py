"""Safety rails for the worker: stop-before-ack, state (de)serialization, expiry, the stall watchdog."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from aiokafka.partitioner import murmur2

from agents.stages.normalize import OutRecord, dead_letter
from agents.stages.ordering import Policy
from runtime.observability.hooks import observe_consumer_lag
from runtime.observability.prometheus import PARTITION_STALLS
from runtime.settings import ProcessingSettings
from schemas.topics import RAW_PREFIX

log = logging.getLogger(__name__)
EXIT_PUBLISH_FAILED = 70


def fatal(reason: str) -> None:
    """Stop the process at once, before Faust can ack (and later commit) the record in hand."""
    log.critical("stopping the worker: %s", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_PUBLISH_FAILED)


def policy(settings: ProcessingSettings) -> Policy:
    return Policy(settings.priorities, stale_ms=int(settings.stale_s * 1000),
                  hysteresis_ms=int(settings.hysteresis_s * 1000), confirm_ms=int(settings.confirm_s * 1000))


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(value: bytes) -> Any:
    return orjson.loads(value)


def loads_or_none(value: bytes | None) -> Any:
    return orjson.loads(value) if value else None


def resolve_dead_letter(topic: str, partition: int, offset: int, value: bytes | None, exc: Exception) -> OutRecord:
    """A resolve-topic candidate (or a whole record) that could not be processed, with the error."""
    try:
        payload: Any = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        payload = (value or b"").decode("utf-8", "replace")
    return dead_letter(
        provider=str(payload.get("source", "?")).split("/")[0] if isinstance(payload, dict) else "?",
        feed="resolve", error=f"internal error: {''.join(traceback.format_exception_only(exc)).strip()}",
        path="$", payload=payload, source_topic=topic, partition=partition, offset=offset,
    )


class Expiry:
    """Remembers when each entry was last updated, per partition, and yields those past the TTL.

    Deletes must happen while an event of the partition that wrote the key is being processed
    (Faust writes the tombstone to that partition's changelog), so expiry is driven from the agent.
    The index lives in memory, so it is rebuilt from the table itself (`seed`) when the worker
    starts and whenever it is handed a partition it has not indexed: entries restored from the
    changelog after a restart or a rebalance expire like the others.

    `stream_ms` is a partition's own clock: the latest update time it has seen. Entity states
    expire by it rather than by the wall clock, the same clock `process_candidates` judges a
    stored state's age by (receipt times): after an outage longer than the TTL, the backlog
    received just after a state's last update still finds that state, instead of the first sweep
    deleting it and the backlog starting a new lineage that repeats published content.
    """

    def __init__(self, ttl_ms: int, batch: int = 100) -> None:
        self.ttl_ms = ttl_ms
        self.batch = batch
        self._updated: dict[int, dict[str, int]] = defaultdict(dict)
        self._clock: dict[int, int] = {}
        self.generation: int | None = None  # the consumer generation the index was built in
        self._next_sweep = 0.0
        self.indexed: set[int] = set()

    def reset(self) -> None:
        """Forget every partition (after a rebalance): a partition that moved to another worker and
        came back holds states written there, so its index is rebuilt from the restored table;
        a stale one would sweep away states another worker had just updated."""
        self._updated.clear()
        self._clock.clear()
        self.indexed.clear()

    def touch(self, partition: int, key: str, updated_ms: int) -> None:
        self._updated[partition][key] = updated_ms
        if updated_ms > self._clock.get(partition, 0):
            self._clock[partition] = updated_ms

    def stream_ms(self, partition: int, now_ms: int) -> int:
        """The partition's clock (never ahead of `now_ms`); `now_ms` before it saw anything."""
        return min(now_ms, self._clock.get(partition, now_ms))

    def seed(self, entries: Iterable[tuple[int, str, int]], partitions: Iterable[int]) -> int:
        """Index (partition, key, updated_ms) entries of a table; `partitions` are now indexed. Returns the count."""
        count = 0
        for partition, key, updated_ms in entries:
            self._updated[partition].setdefault(key, updated_ms)
            if updated_ms > self._clock.get(partition, 0):
                self._clock[partition] = updated_ms
            count += 1
        self.indexed.update(partitions)
        return count

    def due(self, partition: int, now_ms: int) -> list[str]:
        if time.monotonic() < self._next_sweep:
            return []
        self._next_sweep = time.monotonic() + 1.0
        entries = self._updated[partition]
        expired = [k for k, t in entries.items() if now_ms - t > self.ttl_ms][: self.batch]
        for key in expired:
            del entries[key]
        return expired


def rebalanced(generation: int, *indexes: Expiry) -> bool:
    """True (and the indexes forgotten) when the consumer generation changed since they were built."""
    if all(index.generation == generation for index in indexes):
        return False
    for index in indexes:
        index.reset()
        index.generation = generation
    return True


def entity_entries(items: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[int, str, int]]:
    """(partition, key, updated) of stored entity states (which record their partition as `p`)."""
    for key, value in items:
        state = loads_or_none(value)
        if isinstance(state, dict) and "p" in state:
            yield int(state["p"]), key.decode(), int(state.get("updated", 0))


def fixture_entries(items: Iterable[tuple[bytes, bytes]], partitions: int) -> Iterator[tuple[int, str, int]]:
    """(partition, route, latest start) of stored fixture lists. A route's partition is the resolve
    topic's (the producer's murmur2 partitioner over the route key)."""
    for key, value in items:
        fixtures = loads_or_none(value)
        if isinstance(fixtures, list) and fixtures:
            yield route_partition(key, partitions), key.decode(), max(int(f.get("start", 0)) for f in fixtures)


def route_partition(key: bytes, partitions: int) -> int:
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class _Progress:
    def __init__(self) -> None:
        self.seen: dict[Any, tuple[int | None, float]] = {}
        self.stalls = 0


_progress = _Progress()


async def watchdog(app: Any, timeout_s: float, raw_lag: int = 0) -> None:
    """Report and re-seek a partition of Faust's consumer whose lag grows while its committed offset does
    not move; publish the raw topics' lag (`raw_lag`: stage 1's, which reads them outside Faust)."""

    consumer = app.consumer
    now = time.monotonic()
    for tp in consumer.assignment():
        committed = consumer._committed_offset.get(tp)
        try:
            lag = consumer.highwater(tp) - (committed or 0)
        except Exception:  # noqa: BLE001 - no fetch yet for this partition: nothing to judge
            log.debug("no highwater yet for %s", tp)
            continue
        if tp.topic.startswith(RAW_PREFIX):
            raw_lag += max(lag, 0)
        previous = _progress.seen.get(tp)
        if previous is None or previous[0] != committed or lag <= 0:
            _progress.seen[tp] = (committed, now)
            continue
        if now - previous[1] >= timeout_s and committed is not None:
            _progress.stalls += 1
            log.warning("partition %s stalled: lag %d, no commit for %.0fs; seeking to %d",
                        tp, lag, now - previous[1], committed)

            PARTITION_STALLS.labels(topic=tp.topic).inc()
            await consumer.seek(tp, committed)
            _progress.seen[tp] = (committed, now)
    observe_consumer_lag(raw_lag)
