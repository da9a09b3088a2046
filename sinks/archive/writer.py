"""Raw and canonical topics -> gzip JSON Lines objects in S3, the replayable archive.

Layout (docs/delivery.md): `<topic>/date=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first>-<last>.jsonl.gz`,
partitioned by each record's Kafka timestamp (UTC). One buffer per topic-partition holds records
of one hour; it is uploaded when the hour changes, when it reaches `flush_bytes`, or
`flush_interval_s` after its first record. The object name is a function of the offsets it
holds, so an upload retried after a failure rewrites the same object; after a crash the records
are re-read from the committed offset and a differently cut object may overlap an earlier one,
which `sinks/archive/reader.py` de-duplicates by offset. Offsets are committed only after the
upload succeeded.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from runtime.aws import boto_client, translate_boto_error
from runtime.backoff import Backoff
from runtime.settings import Settings
from schemas import topics
from schemas.errors import SinkError
from schemas.providers import providers
from sinks.base import TP, Record, retrying, run_sink

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Pure: the archive format (the reader imports these)


def archive_topics() -> list[str]:

    return [*(topics.raw_topic(p) for p in providers()), *topics.CANONICAL_TOPICS]


def hour_of(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).replace(minute=0, second=0, microsecond=0)


def hour_prefix(topic: str, hour: datetime) -> str:
    return f"{topic}/date={hour:%Y-%m-%d}/hour={hour:%H}/"


def object_key(topic: str, partition: int, first: int, last: int, hour: datetime) -> str:
    return f"{hour_prefix(topic, hour)}{topic}+{partition}+{first}-{last}.jsonl.gz"


def parse_object_key(key: str) -> tuple[str, int, int, int]:
    """`.../<topic>+<partition>+<first>-<last>.jsonl.gz` -> (topic, partition, first, last)."""
    name = key.rsplit("/", 1)[-1].removesuffix(".jsonl.gz")
    topic, partition, span = name.rsplit("+", 2)
    first, last = span.split("-", 1)
    return topic, int(partition), int(first), int(last)


def _text(data: bytes) -> tuple[str, bool]:
    """UTF-8 text if it is, else base64 (flagged), so any bytes survive the JSON line."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def archive_line(r: Record) -> bytes:
    """One record as one JSON line: Kafka metadata plus the value, JSON-decoded where it is JSON."""
    line: dict[str, Any] = {"topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp}
    if r.key is None:
        line["key"] = None
    else:
        line["key"], b64 = _text(r.key)
        if b64:
            line["keyEncoding"] = "base64"
    headers: list[list[str]] = []
    for name, value in r.headers or ():
        text, b64 = _text(value)
        headers.append([name, text, "base64"] if b64 else [name, text])
    line["headers"] = headers
    if r.value is None:
        line["value"], line["valueFormat"] = None, "null"
    else:
        try:
            line["value"], line["valueFormat"] = orjson.loads(r.value), "json"
        except orjson.JSONDecodeError:
            text, b64 = _text(r.value)
            line["value"], line["valueFormat"] = text, "base64" if b64 else "text"
    return orjson.dumps(line) + b"\n"


def encode_object(lines: Sequence[bytes]) -> bytes:
    # mtime=0: the same records always give the same bytes, so a rewrite is byte-identical.
    return gzip.compress(b"".join(lines), compresslevel=6, mtime=0)


# ---------------------------------------------------------------------------------------------
# I/O: the object store seam


class ObjectStore(Protocol):
    async def put(self, key: str, body: bytes) -> None: ...


class S3Store:
    """`ObjectStore` over a boto3 S3 client; uploads run in a thread and are retried per policy."""

    def __init__(self, client: Any, bucket: str, *, attempts: int = 6, backoff: Backoff | None = None) -> None:
        self._client = client
        self._bucket = bucket
        self._attempts = attempts
        self._backoff = backoff or Backoff(0.1, 10.0)

    async def put(self, key: str, body: bytes) -> None:
        await retrying(lambda: asyncio.to_thread(self._put, key, body), attempts=self._attempts,
                       backoff=self._backoff)

    def _put(self, key: str, body: bytes) -> None:
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/x-ndjson",
                                    ContentEncoding="gzip")
        except Exception as exc:
            raise translate_boto_error("s3", "PutObject", exc) from exc


# ---------------------------------------------------------------------------------------------
# The sink


@dataclass(slots=True)
class _Buffer:
    topic: str
    partition: int
    hour: datetime
    first: int
    opened_at: float
    last: int = -1
    size: int = 0
    lines: list[bytes] = field(default_factory=list)

    @property
    def key(self) -> str:
        return object_key(self.topic, self.partition, self.first, self.last, self.hour)


class ArchiveSink:
    """Buffers per topic-partition; returns a partition's offset for commit only once it is uploaded."""

    def __init__(self, store: ObjectStore, *, flush_bytes: int, flush_interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._flush_bytes = flush_bytes
        self._interval = flush_interval_s
        self._clock = clock
        self._buffers: dict[TP, _Buffer] = {}
        self.uploaded: list[str] = []  # object keys, for operators' logs and tests

    async def write(self, records: Sequence[Record]) -> Mapping[TP, int]:
        done: dict[TP, int] = {}
        for r in records:
            tp, hour = (r.topic, r.partition), hour_of(r.timestamp)
            buf = self._buffers.get(tp)
            if buf is not None and buf.hour != hour:
                done[tp] = await self._flush(tp)
                buf = None
            if buf is None:
                buf = self._buffers[tp] = _Buffer(r.topic, r.partition, hour, r.offset, self._clock())
            line = archive_line(r)
            buf.lines.append(line)
            buf.size += len(line)
            buf.last = r.offset
            if buf.size >= self._flush_bytes:
                done[tp] = await self._flush(tp)
        now = self._clock()
        for tp in [tp for tp, b in self._buffers.items() if now - b.opened_at >= self._interval]:
            done[tp] = await self._flush(tp)
        return done

    async def _flush(self, tp: TP) -> int:
        buf = self._buffers[tp]
        await self._store.put(buf.key, encode_object(buf.lines))
        del self._buffers[tp]  # only once uploaded: a failed flush leaves it for `discard` and re-reading
        self.uploaded.append(buf.key)
        log.info("archived %d records to %s", len(buf.lines), buf.key)
        return buf.last + 1

    def discard(self, partitions: Sequence[TP]) -> None:
        for tp in partitions:
            self._buffers.pop(tp, None)

    async def close(self) -> Mapping[TP, int]:

        done: dict[TP, int] = {}
        for tp in list(self._buffers):
            try:
                done[tp] = await self._flush(tp)
            except SinkError as exc:  # not committed: the next run re-reads these records
                log.warning("final flush of %s failed: %s", tp, exc)
        return done


async def run_archive(
    settings: Settings, stop: asyncio.Event, *, store: ObjectStore | None = None,
    ready: asyncio.Event | None = None, auto_offset_reset: str | None = None,
    topic_names: Sequence[str] | None = None,
) -> ArchiveSink:
    """Consume raw and canonical topics in group `<app_id>-archive` into S3 until `stop` is set."""

    cfg = settings.archive
    backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)
    if store is None:
        client = await asyncio.to_thread(boto_client, settings, "s3")
        store = S3Store(client, settings.aws.s3_bucket, attempts=cfg.max_attempts, backoff=backoff)
    sink = ArchiveSink(store, flush_bytes=cfg.flush_bytes, flush_interval_s=cfg.flush_interval_s)
    await run_sink(settings, sink, topic_names or archive_topics(), f"{settings.processing.app_id}-archive", stop,
                   auto_offset_reset=auto_offset_reset or cfg.auto_offset_reset, backoff=backoff, ready=ready)
    return sink
