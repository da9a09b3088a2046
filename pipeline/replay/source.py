"""Where a replay reads raw records: Kafka while within retention, the S3 archive for older ranges.

`plan()` resolves a selection to per-partition offset ranges (time ranges through
`offsets_for_times`) and picks the source; `records()` yields the planned records merged across
partitions by record timestamp (each partition in offset order, equal times by topic, partition and
offset), the order the worker's stage 1 released them in: raw records carry the broker's append time
(`pipeline/provision.py`, `agents/aligned.py`). Every
fault that can be known before reading (unknown or missing topic, a range before retention, no
archive objects, a gap between archive objects) raises `SelectionError` from `plan()`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.replay.select import TP, Position, ReplayError, Selection, SelectionError, check_source
from runtime.aws import translate_boto_error
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas.timeutil import from_epoch_ms, iso_z
from sinks.archive.reader import iter_archive, list_objects
from sinks.archive.writer import parse_object_key

log = logging.getLogger(__name__)
Source = Literal["kafka", "s3"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One raw record as the worker would receive it, from either source."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class Plan:
    """Per partition: the offsets `[first, end)` to read (for S3: the archived span, an estimate)."""

    source: Source
    ranges: dict[TP, tuple[int, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why this source was chosen

    @property
    def total(self) -> int:
        return sum(end - first for first, end in self.ranges.values())

    def remaining(self, position: Position | None) -> int:
        if position is None:
            return self.total
        return sum(end - max(first, position.next.get(tp, first)) for tp, (first, end) in self.ranges.items()
                   if position.next.get(tp, first) < end)

    def by_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (topic, _), (first, end) in sorted(self.ranges.items()):
            counts[topic] = counts.get(topic, 0) + end - first
        return counts


def make_consumer(settings: Settings) -> Any:

    return AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest", max_poll_records=1000)


async def topic_partitions(consumer: Any, names: Sequence[str]) -> list[Any]:

    found: list[Any] = []
    for name in names:
        try:
            ids = await partitions_of(consumer, name)
        except LookupError:
            raise SelectionError(f"topic {name!r} does not exist in Kafka") from None
        found.extend(TopicPartition(name, p) for p in sorted(ids))
    return found


# ---------------------------------------------------------------------------------------------
# Kafka


@dataclass
class KafkaCoverage:
    ranges: dict[TP, tuple[int, int]]
    covered: bool  # Kafka still holds every record from the range's start on
    earliest: int | None  # oldest retained record timestamp (epoch ms) of a truncated partition


async def kafka_coverage(consumer: Any, selection: Selection) -> KafkaCoverage:

    parts = await topic_partitions(consumer, selection.topics)
    first, end = await consumer.beginning_offsets(parts), await consumer.end_offsets(parts)
    if not selection.by_time:
        ranges: dict[TP, tuple[int, int]] = {}
        for (topic, partition), (a, b) in selection.offset_ranges().items():
            tp = TopicPartition(topic, partition)
            if tp not in end:
                raise SelectionError(f"{topic} has no partition {partition}")
            if a < first[tp]:
                raise SelectionError(f"{topic}:{partition} offsets {a}-{b} are past retention (the oldest is "
                                     f"{first[tp]}): replay that time range from the archive with --source s3")
            if b > end[tp]:
                raise SelectionError(f"{topic}:{partition} offsets {a}-{b} go beyond the end ({end[tp]})")
            ranges[(topic, partition)] = (a, b)
        return KafkaCoverage(ranges, True, None)
    starts = await consumer.offsets_for_times(dict.fromkeys(parts, selection.start_ms))
    ends = await consumer.offsets_for_times(dict.fromkeys(parts, selection.end_ms))
    oldest = await consumer.offsets_for_times({tp: 0 for tp in parts if first[tp] < end[tp]})
    covered, earliest = True, None
    ranges = {}
    for tp in parts:
        a = starts[tp].offset if starts.get(tp) else end[tp]
        b = ends[tp].offset if ends.get(tp) else end[tp]
        if b > a:
            ranges[(tp.topic, tp.partition)] = (a, b)
        if first[tp] > 0:  # truncated by retention: records before the oldest one are gone
            found = oldest.get(tp)
            ts = found.timestamp if found else None
            if ts is None or ts > selection.start_ms:
                covered = False
                earliest = ts if earliest is None or (ts is not None and ts < earliest) else earliest
    return KafkaCoverage(ranges, covered, earliest)


async def kafka_records(consumer: Any, plan: Plan, position: Position | None) -> AsyncIterator[RawRecord]:
    """The planned records, merged across partitions by (timestamp, topic, partition, offset)."""

    todo: dict[Any, int] = {}
    for (topic, partition), (first, end) in plan.ranges.items():
        start = max(first, position.next.get((topic, partition), first)) if position else first
        if start < end:
            todo[TopicPartition(topic, partition)] = end
    if not todo:
        return
    consumer.assign(list(todo))
    for tp in todo:
        first = plan.ranges[(tp.topic, tp.partition)][0]
        consumer.seek(tp, max(first, position.next.get((tp.topic, tp.partition), first)) if position else first)
    buffers: dict[Any, deque[RawRecord]] = {tp: deque() for tp in todo}
    active = set(todo)
    while active or any(buffers.values()):
        hungry = [tp for tp in active if not buffers[tp]]
        while hungry:
            batches = await consumer.getmany(*hungry, timeout_ms=1000, max_records=1000)
            for tp, messages in batches.items():
                for m in messages:
                    if m.offset < todo[tp]:
                        buffers[tp].append(RawRecord(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value,
                                                     list(m.headers or [])))
            for tp in hungry:
                if await consumer.position(tp) >= todo[tp]:
                    active.discard(tp)
            hungry = [tp for tp in active if not buffers[tp]]
        heads = [(buf[0].timestamp, tp.topic, tp.partition, buf[0].offset, tp) for tp, buf in buffers.items() if buf]
        if not heads:
            break
        yield buffers[min(heads)[4]].popleft()


async def read_published(consumer: Any, names: Sequence[str], since_ms: int) -> AsyncIterator[Any]:
    """Records of `names` from the first with a timestamp >= `since_ms` to the end as of now."""
    parts = await topic_partitions(consumer, names)
    end = await consumer.end_offsets(parts)
    starts = await consumer.offsets_for_times(dict.fromkeys(parts, since_ms))
    todo = {tp: end[tp] for tp in parts if starts.get(tp) and starts[tp].offset < end[tp]}
    if not todo:
        return
    consumer.assign(list(todo))
    for tp in todo:
        consumer.seek(tp, starts[tp].offset)
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
        for tp, messages in batches.items():
            for m in messages:
                if m.offset < todo.get(tp, -1):
                    yield m
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]


# ---------------------------------------------------------------------------------------------
# S3


def s3_plan(client: Any, bucket: str, selection: Selection) -> Plan:
    """Archived spans per partition for the time range; blocking (call in a thread)."""

    assert selection.start is not None
    assert selection.end is not None
    plan = Plan("s3")
    for topic in selection.topics:
        try:
            listing = list_objects(client, bucket, topic, selection.start, selection.end)
        except Exception as exc:  # botocore: translated, with the bucket named
            raise ReplayError(f"cannot list s3://{bucket}/{topic}/: {translate_boto_error('s3', 'List', exc)}") from exc
        for partition, keys in listing.items():
            spans = sorted(parse_object_key(k)[2:] for k in keys)
            first, last = spans[0][0], spans[0][1]
            for a, b in spans[1:]:
                if a > last + 1:
                    raise SelectionError(f"missing archive objects: s3://{bucket} has no records of {topic}:"
                                         f"{partition} offsets {last + 1}-{a - 1} (between objects ending at "
                                         f"{last} and starting at {a})")
                last = max(last, b)
            plan.ranges[(topic, partition)] = (first, last + 1)
    if not plan.ranges:
        hours = f"{iso_z(selection.start)} to {iso_z(selection.end)}"
        raise SelectionError(f"missing archive objects: s3://{bucket} has no objects of "
                             f"{', '.join(selection.topics)} from {hours}")
    return plan


async def s3_records(client: Any, bucket: str, selection: Selection, position: Position | None,
                     chunk: int = 500) -> AsyncIterator[RawRecord]:
    """Archived records of the range, merged by timestamp; the blocking reads run in a thread."""

    assert selection.start is not None
    assert selection.end is not None
    merged: Iterator[Any] = heapq.merge(
        *(iter_archive(bucket, t, selection.start, selection.end, client=client) for t in selection.topics),
        key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))

    def take() -> list[RawRecord]:
        out = []
        for r in merged:
            if position is None or not position.done((r.topic, r.partition), r.offset):
                out.append(RawRecord(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value_bytes(),
                                     list(r.headers)))
            if len(out) >= chunk:
                break
        return out

    while batch := await asyncio.to_thread(take):
        for record in batch:
            yield record


# ---------------------------------------------------------------------------------------------
# Choosing


async def plan(settings: Settings, consumer: Any, s3: Any, selection: Selection, source: str) -> Plan:
    """Resolve the selection on `source` (kafka, s3 or auto); raise `SelectionError` if it cannot be served."""
    check_source(selection, source)
    if source == "s3":
        return await asyncio.to_thread(s3_plan, s3, settings.aws.s3_bucket, selection)
    coverage = await kafka_coverage(consumer, selection)
    if source == "kafka":
        if not coverage.covered:
            raise SelectionError(f"{selection} starts before Kafka's retention (oldest record "
                                 f"{_when(coverage.earliest)}): use --source s3")
        if not coverage.ranges:
            raise SelectionError(f"empty range: Kafka has no records of {selection}")
        return Plan("kafka", coverage.ranges, ["--source kafka"])
    if coverage.covered and coverage.ranges:
        return Plan("kafka", coverage.ranges, ["auto: Kafka still holds the range"])
    reason = ("Kafka holds no records of the range" if coverage.covered
              else f"the range starts before Kafka's retention (oldest record {_when(coverage.earliest)})")
    if not selection.by_time:
        raise SelectionError(f"empty range: {reason}")
    try:
        found = await asyncio.to_thread(s3_plan, s3, settings.aws.s3_bucket, selection)
    except SelectionError as exc:
        raise SelectionError(f"neither source covers {selection}: {reason}; {exc}") from None
    found.notes.append(f"auto: {reason}, reading the archive")
    return found


def _when(ms: int | None) -> str:
    return iso_z(from_epoch_ms(ms)) if ms is not None else "unknown"
