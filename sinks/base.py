"""The consumer loop every sink shares: fetch, hand to the sink, commit only what the sink made durable.

Errors raised by sinks (they extend the tree in `schemas/errors.py`):

    SportsflowError
    └── SinkError                 a sink could not make records durable
        └── SinkWriteError        one call to DynamoDB/S3 failed; `retriable` says if trying again can help

Delivery is at-least-once: a sink returns the offsets it has made durable and only those are
committed. When a sink raises, every partition is rewound to its first uncommitted offset, the
sink drops its in-memory state (`discard`) and the records are fetched again after a backoff, so
nothing is skipped. Sinks must therefore be idempotent (conditional writes, deterministic object
names).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from runtime.backoff import Backoff
from runtime.kafka import client_options
from runtime.observability.hooks import observe_sink
from runtime.settings import Settings
from schemas.errors import SinkError, SinkWriteError

log = logging.getLogger(__name__)

T = TypeVar("T")
# (topic, partition): sinks need no aiokafka types, so tests can build records by hand.
TP = tuple[str, int]


class Record(Protocol):
    """The parts of an aiokafka `ConsumerRecord` sinks read."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class Sink(Protocol):
    async def write(self, records: Sequence[Record]) -> Mapping[TP, int]:
        """Take a batch (maybe empty, on idle polls); return `{tp: next offset}` now durable. Raise to rewind."""

    def discard(self, partitions: Sequence[TP]) -> None:
        """Forget buffered records of these partitions (they will be fetched again)."""

    async def close(self) -> Mapping[TP, int]:
        """Make what is buffered durable at shutdown (best effort); return offsets to commit."""


async def retrying(
    call: Callable[[], Awaitable[T]], *, attempts: int, backoff: Backoff,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `call`, retrying retriable `SinkWriteError`s up to `attempts` times in all. Cancel-safe."""
    for attempt in range(attempts):
        try:
            return await call()
        except SinkWriteError as exc:
            if not exc.retriable or attempt == attempts - 1:
                raise
            delay = backoff.delay(attempt)
            log.warning("%s; retrying in %.2fs (attempt %d of %d)", exc, delay, attempt + 1, attempts)
            await sleep(delay)
    raise AssertionError("unreachable: attempts must be >= 1")


class _Positions:
    """Per partition: the first offset fetched but not yet committed (where to rewind to)."""

    def __init__(self) -> None:
        self.pending: dict[TP, int] = {}
        self.fetched_end: dict[TP, int] = {}

    def fetched(self, records: Sequence[Record]) -> None:
        for r in records:
            tp = (r.topic, r.partition)
            self.pending.setdefault(tp, r.offset)
            self.fetched_end[tp] = max(self.fetched_end.get(tp, 0), r.offset + 1)

    def committed(self, offsets: Mapping[TP, int]) -> None:
        for tp, offset in offsets.items():
            if offset >= self.fetched_end.get(tp, 0):
                self.pending.pop(tp, None)
            else:
                self.pending[tp] = offset

    def forget(self, partitions: Sequence[TP]) -> None:
        for tp in partitions:
            self.pending.pop(tp, None)
            self.fetched_end.pop(tp, None)


def unread(ends: Mapping[Any, int | None], positions: Mapping[Any, int]) -> int | None:
    """Messages not read yet: end offset minus next position, summed over the assigned partitions
    (None while a partition has no end offset yet: no fetch answered for it)."""
    if any(end is None for end in ends.values()):
        return None
    return sum(max(0, (ends[tp] or 0) - positions[tp]) for tp in ends)


async def _lag(consumer: Any, fetched_end: Mapping[TP, int]) -> int | None:
    ends = {tp: consumer.highwater(tp) for tp in consumer.assignment()}
    positions = {}
    for tp in ends:
        done = fetched_end.get((tp.topic, tp.partition))
        positions[tp] = done if done is not None else await consumer.position(tp)
    return unread(ends, positions)


async def run_sink(
    settings: Settings, sink: Sink, topic_names: Sequence[str], group_id: str, stop: asyncio.Event, *,
    auto_offset_reset: str = "earliest", max_records: int = 500, backoff: Backoff | None = None,
    ready: asyncio.Event | None = None, poll_ms: int = 200,
) -> None:
    """Consume `topic_names` in `group_id` until `stop` is set; commit only offsets the sink returns.

    `ready` is set once partitions are assigned and positioned (tests publish after it).
    Cancelling is safe: uncommitted records are fetched again by the next owner.
    """

    positions = _Positions()
    assigned_once = asyncio.Event()
    policy = backoff or Backoff(0.2, 10.0)

    class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        async def on_partitions_revoked(self, revoked: Any) -> None:
            # Uncommitted buffers belong to the next owner now; it re-reads them from the committed offset.
            lost = [(tp.topic, tp.partition) for tp in revoked]
            sink.discard(lost)
            positions.forget(lost)

        async def on_partitions_assigned(self, assigned: Any) -> None:
            assigned_once.set()

    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=group_id, enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset, max_poll_records=max_records, fetch_max_wait_ms=poll_ms,
    )

    async def commit(offsets: Mapping[TP, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions: the new owner re-reads them and the sink is idempotent.
            log.warning("commit of %s failed (%s); records will be delivered again", dict(offsets), exc)
            return
        positions.committed(offsets)

    await consumer.start()
    try:
        consumer.subscribe(list(topic_names), listener=_Listener())
        await _wait_assigned(consumer, assigned_once)
        if ready is not None:
            ready.set()
        failures = 0
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=poll_ms, max_records=max_records)
            records: list[Record] = [m for messages in batches.values() for m in messages]
            positions.fetched(records)
            try:
                await commit(await sink.write(records))
                failures = 0
                observe_sink(group_id, consumed=len(records), lag=await _lag(consumer, positions.fetched_end))
            except SinkError as exc:
                failures += 1
                delay = policy.delay(failures - 1)
                log.warning("sink failed (%s); rewinding and retrying in %.2fs", exc, delay)
                sink.discard(list(positions.pending))
                for (topic, partition), offset in positions.pending.items():
                    consumer.seek(TopicPartition(topic, partition), offset)
                positions.forget(list(positions.pending))
                await _sleep_unless(stop, delay)
        await commit(await sink.close())
    finally:
        await consumer.stop()


async def _wait_assigned(consumer: Any, assigned: asyncio.Event, timeout_s: float = 60.0) -> None:
    # aiokafka joins the group in a background task; waiting for the listener (instead of fetching)
    # consumes nothing. Positions are resolved so records published after `ready` are seen even
    # with auto_offset_reset=latest.
    async with asyncio.timeout(timeout_s):
        await assigned.wait()
    for tp in consumer.assignment():
        await consumer.position(tp)


async def _sleep_unless(stop: asyncio.Event, delay: float) -> None:
    try:
        async with asyncio.timeout(delay):
            await stop.wait()
    except TimeoutError:
        return
