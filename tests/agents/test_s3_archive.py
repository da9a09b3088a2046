"""The S3 archive and its reader against the stack's S3 (SeaweedFS) and Kafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from runtime.aws import boto_client
from schemas import topics
from schemas.errors import SinkWriteError
from sinks.archive.reader import iter_archive
from sinks.archive.writer import S3Store, archive_line, encode_object, object_key, run_archive
from tests.agents.sinks import event, eventually, produce, running, sink_settings
from tests.agents.test_archive_format import Rec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(stack):
    return boto_client(stack, "s3")


def archive_settings(stack, unique):
    settings = sink_settings(stack, unique)
    archive = settings.archive.model_copy(update={"flush_interval_s": 0.5, "backoff_initial_s": 0.05,
                                                  "backoff_max_s": 0.2})
    return settings.model_copy(update={"archive": archive})


def window():
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=5)


async def read(settings, s3, topic, match: str) -> list:
    start, end = window()
    records = await asyncio.to_thread(lambda: list(iter_archive(settings.aws.s3_bucket, topic, start, end, client=s3)))
    return [r for r in records if match in str(r.value)]


async def test_raw_and_canonical_records_are_archived_and_read_back(stack, s3, unique):
    """Records of a raw and a canonical topic land as gzip JSON Lines and iter_archive yields them with metadata."""
    settings = archive_settings(stack, unique)
    raw = topics.raw_topic("theoddsapi")
    async with running(lambda stop, ready: run_archive(settings, stop, ready=ready, auto_offset_reset="latest")):
        partition, offset = await produce(settings, raw, unique.encode(), b'{"id": "%s", "n": 1}' % unique.encode())
        await produce(settings, topics.EVENTS, unique.encode(), event(unique, 1).to_json())
        [record] = await eventually(lambda: read(settings, s3, raw, unique), message="the raw record in S3")
        [canonical] = await eventually(lambda: read(settings, s3, topics.EVENTS, unique), message="the event in S3")
    assert (record.topic, record.partition, record.offset) == (raw, partition, offset)
    assert record.key == unique.encode()
    assert record.value == {"id": unique, "n": 1}
    assert canonical.value["id"] == unique
    assert canonical.value_format == "json"
    day = record.time.strftime("%Y-%m-%d")
    listing = s3.list_objects_v2(Bucket=settings.aws.s3_bucket, Prefix=f"{raw}/date={day}/")
    assert any(o["Key"].endswith(".jsonl.gz") and f"{raw}+{partition}+" in o["Key"] for o in listing["Contents"])


def test_reader_deduplicates_overlapping_objects_in_offset_order(stack, s3, unique):
    """Overlapping objects (a retry cut differently) yield each offset once, in offset order."""
    topic = f"test.{unique}"
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ts = int(hour.timestamp() * 1000) + 1000

    def put(first: int, last: int) -> None:
        lines = [archive_line(Rec(topic=topic, offset=o, timestamp=ts + o, value=b'{"o": %d}' % o))
                 for o in range(first, last + 1)]
        s3.put_object(Bucket=stack.aws.s3_bucket, Key=object_key(topic, 0, first, last, hour),
                      Body=encode_object(lines))

    for first, last in [(0, 5), (0, 9), (3, 4), (10, 12)]:
        put(first, last)
    records = list(iter_archive(stack.aws.s3_bucket, topic, hour, hour + timedelta(hours=1), client=s3))
    assert [r.offset for r in records] == list(range(13))
    assert [r.value["o"] for r in records] == list(range(13))


class GatedStore:
    """An object store seam that fails with SlowDown until `gate` is set, then uploads to S3."""

    def __init__(self, real: S3Store) -> None:
        self.real = real
        self.gate = asyncio.Event()
        self.attempts = 0

    async def put(self, key: str, body: bytes) -> None:
        self.attempts += 1
        if not self.gate.is_set():
            raise SinkWriteError("s3", "PutObject", "SlowDown", "test", retriable=True)
        await self.real.put(key, body)


async def test_offsets_are_committed_only_after_upload(stack, s3, unique):
    """While uploads fail nothing is committed and the records are re-read; after the upload they commit."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    settings = archive_settings(stack, unique)
    raw = topics.raw_topic("theoddsapi")
    store = GatedStore(S3Store(s3, settings.aws.s3_bucket, attempts=1))

    async def committed(partition):
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers,
                                    group_id=f"{settings.processing.app_id}-archive", enable_auto_commit=False)
        await consumer.start()
        try:
            return await consumer.committed(TopicPartition(raw, partition))
        finally:
            await consumer.stop()

    run = lambda stop, ready: run_archive(settings, stop, store=store, ready=ready,  # noqa: E731
                                          auto_offset_reset="latest", topic_names=[raw])
    async with running(run):
        partition, offset = await produce(settings, raw, unique.encode(), b'{"id": "%s"}' % unique.encode())
        await eventually(lambda: asyncio.sleep(0, store.attempts >= 3), message="retried uploads")
        assert await committed(partition) is None
        store.gate.set()
        await eventually(lambda: committed(partition), message="the commit")
    assert await committed(partition) >= offset + 1  # others may share the partition
    assert [r.offset for r in await read(settings, s3, raw, unique)] == [offset]
