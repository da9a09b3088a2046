"""Stage 1's I/O shell: raw records read in batches, normalized, packed per resolve partition.

Faust's per-message consumer costs ~100 µs per record before any work; stage 1 is stateless, so
it reads the raw topics with a plain aiokafka `getmany` loop instead, hosted by the Faust app as a
service (`faust -A pipeline.app worker` still runs everything). Per batch:

0. the records fetched are buffered per partition and released in record-time order across the raw
   topics, also while catching up a backlog (`agents/aligned.py`);
1. every raw record becomes candidates or a dead letter (`process_raw`, pure);
2. the candidates are grouped by the resolve partition their fixture key maps to (murmur2, as
   Faust's and Java's producers choose) and sent as one packed record per partition
   (`agents/packing.py`), dead letters as they are;
3. once Kafka acknowledged all of them, the released records' offsets are committed. A record that cannot be
   delivered stops the worker first (`guard.fatal`), so nothing is committed that was not published.

The consumer group is the app id's `-normalize` group (`schemas.topics.normalize_group`). On a
rebalance the revoked partitions' in-flight batch is finished and committed before they move.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from mode import Service

from agents import packing
from agents.aligned import Aligned
from agents.fetch_clock import FetchClock
from agents.publish import BatchPublisher
from agents.stages.normalize import process_raw
from runtime.kafka import client_options
from runtime.observability.hooks import observe_order_hold_expired, observe_processed
from runtime.settings import Settings
from schemas import headers as h
from schemas import topics

log = logging.getLogger(__name__)
MAX_BATCH_RECORDS = 2000
POLL_MS = 200
FETCH_WAIT_MS = 20  # an idle partition is confirmed at its end this often (agents/aligned.py)
HELD_POLL_MS = FETCH_WAIT_MS + 5
READY_TIMEOUT_S = 60.0
MAX_BUFFERED = 20_000  # records held per partition while others catch up; beyond it, its fetching pauses


class Intake(Service):
    """The stage-1 loop as a Faust app service: started with the worker, stopped cleanly with it."""

    def __init__(self, *, settings: Settings, app_id: str, raw_topics: list[str], resolve_topic: str,
                 producer: Callable[[], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._app_id = app_id
        self._raw_topics = raw_topics
        self._resolve_topic = resolve_topic
        self._producer = producer
        self._consumer: AIOKafkaConsumer | None = None
        self._publisher: BatchPublisher | None = None
        self._busy = asyncio.Lock()
        self.assigned = asyncio.Event()
        self._fresh: set[TopicPartition] = set()  # assigned since the last _pin_start
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._done: dict[TopicPartition, int] = {}  # next offset to handle, per partition
        self._fetched: dict[TopicPartition, int] = {}  # next offset to fetch, per partition
        self._aligned = Aligned(max_hold_s=settings.processing.order_hold_s, on_expire=_order_given_up)
        self._fetch_clock = FetchClock()
        self.batches = 0

    async def on_start(self) -> None:
        if self._settings.processing.gc_tuning:
            # Started after table recovery: the restored tables are a large, long-lived heap that every
            # full GC pass would walk again; the hot path allocates many short-lived objects per update.
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        consumer = self._consumer = AIOKafkaConsumer(
            **client_options(self._settings), group_id=topics.normalize_group(self._app_id),
            enable_auto_commit=False, auto_offset_reset=self._settings.processing.auto_offset_reset,
            session_timeout_ms=10_000, heartbeat_interval_ms=3_000, max_poll_records=MAX_BATCH_RECORDS,
            fetch_max_bytes=32 << 20, fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        await consumer.start()
        self._fetch_clock.install(consumer)
        consumer.subscribe(self._raw_topics, listener=_Listener(self))
        self._publisher = BatchPublisher(self._producer())
        await self._publisher.partition_count(self._resolve_topic)
        await self._wait_assigned(consumer)
        self._loop_task = asyncio.ensure_future(self._run())

    async def _wait_assigned(self, consumer: AIOKafkaConsumer) -> None:
        """Return once partitions are assigned and their start positions known, so "Ready" means reading:
        with auto_offset_reset=latest, a record produced after Ready is never skipped."""
        async with asyncio.timeout(READY_TIMEOUT_S):
            await self.assigned.wait()
            await self._pin_start({})

    async def _pin_start(self, batches: dict[TopicPartition, list[Any]]) -> None:
        """Commit the start position of newly assigned partitions that have no committed offset yet.

        With auto_offset_reset=latest, "latest" must mean latest when this app first read the
        partition: were nothing committed until its first batch, a worker killed before that commit
        would restart at the *new* end and skip what arrived in between.
        """
        consumer = self._consumer
        assert consumer is not None
        fresh, self._fresh = self._fresh, set()
        assigned = consumer.assignment()
        starts = {}
        for tp in fresh & assigned:
            if await consumer.committed(tp) is None:  # the batch in hand may already hold its first records
                starts[tp] = batches[tp][0].offset if batches.get(tp) else await consumer.position(tp)
        if starts:
            try:
                await consumer.commit(starts)
            except KafkaError as exc:
                log.warning("stage 1 could not pin start offsets (%r)", exc)

    async def on_stop(self) -> None:
        self._stopping = True
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, timeout=30)
            except TimeoutError:
                log.warning("stage 1 did not finish its batch within 30 s; its offsets stay uncommitted")
        if self._consumer is not None:
            await self._consumer.stop()

    def lag(self) -> int:
        """Raw records not yet read by this worker (highwater - position over its assigned partitions)."""
        consumer = self._consumer
        if consumer is None:
            return 0
        total = 0
        for tp in consumer.assignment():
            highwater, done = consumer.highwater(tp), self._done.get(tp)
            if highwater is not None and done is not None:
                total += max(highwater - done, 0)
        return total

    def note_assigned(self, assigned: set[TopicPartition]) -> None:
        self._fresh |= assigned
        self.assigned.set()

    async def quiesce(self) -> None:
        """Wait until the batch in hand (if any) is published and committed."""
        async with self._busy:
            pass

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self._stopping:
            try:
                # Records held for order are looked at again after the next fetch response (fetch_max_wait_ms).
                timeout_ms = HELD_POLL_MS if len(self._aligned) else POLL_MS
                batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=MAX_BATCH_RECORDS)
            except KafkaError as exc:
                log.warning("stage 1 fetch failed (%r); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            async with self._busy:
                if self._fresh:
                    await self._pin_start(batches)
                assigned = consumer.assignment()  # a batch fetched before a revocation is the new owner's
                mine = {tp: messages for tp, messages in batches.items() if tp in assigned and messages}
                self._aligned.add(mine)
                self._fetched.update({tp: messages[-1].offset + 1 for tp, messages in mine.items()})
                behind, polled = await self._behind(consumer)
                ready = self._aligned.release(behind, polled)
                self._pace(consumer)
                if ready:
                    await self._handle(ready)

    async def _behind(self, consumer: AIOKafkaConsumer) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """Assigned partitions with records on the broker not fetched yet (or not known not to have any); and
        for the others, read to their end, as of when the broker last said so (`agents/fetch_clock.py`)."""
        behind = []
        polled = {}
        for tp in consumer.assignment():
            # The highwater and the moment of one fetch response, taken together (agents/fetch_clock.py).
            seen, fetched = self._fetch_clock.vouched.get(tp), self._fetched.get(tp)
            if fetched is None and seen is not None:
                try:  # nothing fetched since the assignment: where the fetcher starts
                    fetched = self._fetched[tp] = await asyncio.wait_for(consumer.position(tp), 0.05)
                except (TimeoutError, KafkaError, IllegalStateError):
                    fetched = None
            if seen is None or fetched is None or fetched < seen.highwater:
                behind.append(tp)
            else:
                polled[tp] = seen.at_ms
        return behind, polled

    def _pace(self, consumer: AIOKafkaConsumer) -> None:
        """Bound the records held back: a partition far ahead of the others stops fetching until they catch up."""
        paused = consumer.paused()
        for tp in consumer.assignment():
            held = self._aligned.buffered(tp)
            if held > MAX_BUFFERED and tp not in paused:
                consumer.pause(tp)
            elif held < MAX_BUFFERED // 2 and tp in paused:
                consumer.resume(tp)

    def forget(self, revoked: set[TopicPartition]) -> None:
        """Revoked partitions: what was fetched but not handled is read again from the commit by their owner."""
        self._aligned.drop(revoked)
        for tp in revoked:
            self._fetched.pop(tp, None)

    async def _handle(self, messages: list[Any]) -> None:
        assert self._consumer is not None
        assert self._publisher is not None
        publisher = self._publisher
        resolve_count = await publisher.partition_count(self._resolve_topic)
        by_partition: dict[int, list[packing.Candidate]] = defaultdict(list)
        # Partitions interleaved by record time, each in its own order: one fixture's updates from two
        # providers (two raw partitions) reach stage 2 in the order they came, as when read one by one.
        offsets: dict[TopicPartition, int] = {}
        outcomes: dict[tuple[str, bool], int] = defaultdict(int)  # (topic, dead letter) -> records
        for message in messages:
            offsets[TopicPartition(message.topic, message.partition)] = message.offset + 1
            processed = process_raw(message.topic, message.partition, message.offset, message.value,
                                    list(message.headers or ()))
            dead = processed.dead_letter
            outcomes[message.topic, dead is not None] += 1
            for out in processed.records:
                by_partition[publisher.partition_for(out.key, resolve_count)].append(
                    packing.Candidate(out.key, out.value, out.headers))
            if dead is not None:
                log.warning("dead letter from %s:%s@%s", message.topic, message.partition, message.offset)
                await publisher.add(dead.topic, dead.key, dead.value, _stamped(dead.headers, self._app_id))
        stamp = [(h.APP, self._app_id.encode())]
        for partition, candidates in by_partition.items():
            for value in packing.pack(candidates):
                await publisher.add(self._resolve_topic, None, value, stamp, partition=partition)
        await publisher.flush()  # a failed delivery has stopped the worker: nothing below runs
        for (topic, dead_letter), n in outcomes.items():
            observe_processed(topics.provider_of_raw_topic(topic), dead_letter=dead_letter, n=n)
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # the partitions moved: their new owner reads them again (idempotent outputs)
            log.warning("stage 1 commit failed (%r); the next owner re-reads from the last commit", exc)
        self._done.update(offsets)
        self.batches += 1


def _order_given_up(waited_for: list[Any], held_s: float) -> None:
    log.warning("stage 1 waited %.1fs for %s to catch up and now lets the other raw records go out of "
                "record-time order (processing.order_hold_s)", held_s,
                " ".join(f"{tp.topic}:{tp.partition}" for tp in waited_for) or "a partition")
    observe_order_hold_expired()


def _stamped(headers: list[tuple[str, bytes]], app_id: str) -> list[tuple[str, bytes]]:
    return [*headers, (h.APP, app_id.encode()), (h.PUBLISHED_TS, h.ms(h.now_ms()))]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, intake: Intake) -> None:
        self._intake = intake

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._intake.quiesce()  # the batch in hand is published and committed before they move
        self._intake.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("stage 1 assigned %d raw partitions: %s", len(assigned),
                 " ".join(sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)))
        self._intake.note_assigned(assigned)
