"""Read the S3 archive back: `iter_archive(bucket, topic, start, end)` for replays and audits.

Records come per partition in offset order; partitions are merged by record timestamp. Objects
may overlap (a flush retried after a crash is cut differently; see `sinks/archive/writer.py`), so
each partition's objects are read by ascending first offset and any offset already yielded is
skipped. Only one object per partition is held in memory at a time.
"""

from __future__ import annotations

import base64
import gzip
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from schemas.timeutil import from_epoch_ms, to_utc
from sinks.archive.writer import hour_of, hour_prefix, parse_object_key


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int  # Kafka record timestamp, epoch ms
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: Any  # JSON-decoded when the record was JSON; text, bytes or None otherwise
    value_format: str  # json, text, base64 or null

    @property
    def time(self) -> datetime:
        return from_epoch_ms(self.timestamp)

    def value_bytes(self) -> bytes | None:
        """The value as bytes to re-publish (JSON values are re-encoded compactly)."""
        if self.value_format == "null":
            return None
        if self.value_format == "json":
            return orjson.dumps(self.value)
        return self.value if isinstance(self.value, bytes) else str(self.value).encode()


def _bytes(text: str, b64: bool) -> bytes:
    return base64.b64decode(text) if b64 else text.encode()


def parse_line(line: bytes) -> ArchivedRecord:
    obj = orjson.loads(line)
    key = None if obj["key"] is None else _bytes(obj["key"], obj.get("keyEncoding") == "base64")
    headers = [(h[0], _bytes(h[1], len(h) > 2 and h[2] == "base64")) for h in obj.get("headers", [])]
    fmt = obj.get("valueFormat", "json")
    value = base64.b64decode(obj["value"]) if fmt == "base64" else obj["value"]
    return ArchivedRecord(obj["topic"], obj["partition"], obj["offset"], obj["timestamp"], key, headers, value, fmt)


def _hours(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = hour_of(int(to_utc(start).timestamp() * 1000))
    while hour < end:
        yield hour
        hour += timedelta(hours=1)


def list_objects(client: Any, bucket: str, topic: str, start: datetime, end: datetime) -> dict[int, list[str]]:
    """Object keys holding records of [start, end), per partition, by ascending first (then descending last)."""
    found: dict[int, list[tuple[int, int, str]]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for hour in _hours(start, to_utc(end)):
        for page in paginator.paginate(Bucket=bucket, Prefix=hour_prefix(topic, hour)):
            for obj in page.get("Contents", []):
                try:
                    name_topic, partition, first, last = parse_object_key(obj["Key"])
                except ValueError:
                    continue  # not an archive object (someone's stray upload)
                if name_topic == topic:
                    found.setdefault(partition, []).append((first, -last, obj["Key"]))
    return {p: [key for *_, key in sorted(entries)] for p, entries in sorted(found.items())}


def _partition_records(client: Any, bucket: str, keys: list[str], start_ms: int, end_ms: int,
                       ) -> Iterator[ArchivedRecord]:
    last_seen = -1
    for key in keys:
        last = parse_object_key(key)[3]
        if last <= last_seen:
            continue  # wholly covered by objects already read
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in gzip.decompress(body).splitlines():
            if not line.strip():
                continue
            record = parse_line(line)
            if record.offset <= last_seen:
                continue
            last_seen = record.offset
            if start_ms <= record.timestamp < end_ms:
                yield record


def iter_archive(bucket: str, topic: str, start: datetime, end: datetime, *, client: Any) -> Iterator[ArchivedRecord]:
    """Every archived record of `topic` with a timestamp in [start, end), each offset once.

    `client` is a boto3 S3 client, handed in by the caller (who owns the settings). Blocking: call it
    from a thread (`asyncio.to_thread`) in async code.
    """
    start_ms, end_ms = int(to_utc(start).timestamp() * 1000), int(to_utc(end).timestamp() * 1000)
    streams = [
        _partition_records(client, bucket, keys, start_ms, end_ms)
        for keys in list_objects(client, bucket, topic, start, end).values()
    ]
    yield from heapq.merge(*streams, key=lambda r: (r.timestamp, r.partition, r.offset))
