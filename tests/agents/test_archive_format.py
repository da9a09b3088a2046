"""Pure unit tests of the archive format and of ArchiveSink's buffering, with an in-memory store."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import pytest

from schemas.errors import SinkWriteError
from sinks.archive.reader import parse_line
from sinks.archive.writer import ArchiveSink, archive_line, encode_object, object_key, parse_object_key

HOUR_MS = 3_600_000
T0 = int(datetime(2025, 5, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)


@dataclass
class Rec:
    topic: str = "raw.theoddsapi"
    partition: int = 0
    offset: int = 0
    timestamp: int = T0
    key: bytes | None = b"k"
    value: bytes | None = b'{"a": 1}'
    headers: list = field(default_factory=lambda: [("sf-provider", b"theoddsapi")])


class MemoryStore:
    def __init__(self, fail: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = fail

    async def put(self, key: str, body: bytes) -> None:
        if self.fail:
            raise SinkWriteError("s3", "PutObject", "SlowDown", "test", retriable=True)
        self.objects[key] = body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_object_key_layout_round_trips():
    """Keys are <topic>/date=/hour=/<topic>+<partition>+<first>-<last>.jsonl.gz and parse back."""
    key = object_key("canonical.events", 3, 10, 42, datetime(2025, 5, 1, 7, tzinfo=UTC))
    assert key == "canonical.events/date=2025-05-01/hour=07/canonical.events+3+10-42.jsonl.gz"
    assert parse_object_key(key) == ("canonical.events", 3, 10, 42)


@pytest.mark.parametrize(("value", "fmt", "decoded"), [
    (b'{"a": [1, 2]}', "json", {"a": [1, 2]}),
    (b"plain text", "text", "plain text"),
    (b"\xff\xfe\x00", "base64", b"\xff\xfe\x00"),
    (None, "null", None),
])
def test_archive_line_keeps_metadata_and_value(value, fmt, decoded):
    """Each line keeps topic, partition, offset, timestamp, key and headers; the value is JSON where it can be."""
    line = archive_line(Rec(offset=7, value=value, key=b"\x80bin", headers=[("h", b"v"), ("b", b"\xff")]))
    assert line.endswith(b"\n")
    assert orjson.loads(line)["valueFormat"] == fmt
    record = parse_line(line)
    assert (record.topic, record.partition, record.offset, record.timestamp) == ("raw.theoddsapi", 0, 7, T0)
    assert record.key == b"\x80bin"
    assert record.headers == [("h", b"v"), ("b", b"\xff")]
    assert record.value == decoded


def test_encoding_is_deterministic():
    """The same records always give the same object bytes, so a rewrite changes nothing."""
    lines = [archive_line(Rec(offset=i)) for i in range(3)]
    assert encode_object(lines) == encode_object(lines)
    assert gzip.decompress(encode_object(lines)).count(b"\n") == 3


async def test_buffer_flushes_on_size_and_returns_offsets_only_then():
    """Nothing is committable until the buffer is uploaded; then the next offset is."""
    store = MemoryStore()
    sink = ArchiveSink(store, flush_bytes=300, flush_interval_s=60, clock=Clock())
    assert await sink.write([Rec(offset=0)]) == {}
    assert store.objects == {}
    offsets = await sink.write([Rec(offset=i) for i in range(1, 6)])
    assert offsets == {("raw.theoddsapi", 0): max(parse_object_key(k)[3] for k in store.objects) + 1}
    assert min(parse_object_key(k)[2] for k in store.objects) == 0


async def test_hour_change_cuts_an_object_per_hour():
    """Records of the next hour start a new object in that hour's prefix."""
    store = MemoryStore()
    sink = ArchiveSink(store, flush_bytes=1 << 20, flush_interval_s=60, clock=Clock())
    offsets = await sink.write([Rec(offset=0), Rec(offset=1), Rec(offset=2, timestamp=T0 + HOUR_MS)])
    assert offsets == {("raw.theoddsapi", 0): 2}
    assert list(store.objects) == ["raw.theoddsapi/date=2025-05-01/hour=10/raw.theoddsapi+0+0-1.jsonl.gz"]
    assert await sink.close() == {("raw.theoddsapi", 0): 3}
    assert "raw.theoddsapi/date=2025-05-01/hour=11/raw.theoddsapi+0+2-2.jsonl.gz" in store.objects


async def test_buffer_flushes_after_the_interval():
    """An idle poll after flush_interval_s uploads what is buffered."""
    clock = Clock()
    store = MemoryStore()
    sink = ArchiveSink(store, flush_bytes=1 << 20, flush_interval_s=5, clock=clock)
    await sink.write([Rec(offset=0)])
    clock.now = 4.9
    assert await sink.write([]) == {}
    clock.now = 5.0
    assert await sink.write([]) == {("raw.theoddsapi", 0): 1}


async def test_failed_upload_raises_and_commits_nothing():
    """A failing store raises (so the loop rewinds); the buffer can be discarded and rebuilt identically."""
    store = MemoryStore(fail=True)
    sink = ArchiveSink(store, flush_bytes=1, flush_interval_s=60, clock=Clock())
    with pytest.raises(SinkWriteError):
        await sink.write([Rec(offset=4)])
    sink.discard([("raw.theoddsapi", 0)])
    store.fail = False
    assert await sink.write([Rec(offset=4)]) == {("raw.theoddsapi", 0): 5}
    assert list(store.objects) == ["raw.theoddsapi/date=2025-05-01/hour=10/raw.theoddsapi+0+4-4.jsonl.gz"]
