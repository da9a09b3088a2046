"""The resolve topic's wire format and the hot path's batched publisher, without Kafka."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from agents import guard, packing
from agents.publish import BatchPublisher, Partitions
from agents.stages.normalize import process_raw
from schemas import headers as h


def _candidate(route: str, n: int) -> packing.Candidate:
    value = orjson.dumps({"source": "theoddsapi/scores", "receivedMs": 1_700_000_000_000 + n,
                          "records": [{"type": "event", "id": f"{route}-{n}", "note": "naïve \n text"}]})
    return packing.Candidate(route.encode(), value, [(h.RECEIVED_TS, b"%d" % n), (h.RECORD_ID, b"\xff\x00id")])


def test_packed_candidates_come_back_byte_for_byte_in_order():
    """Routes, JSON values (newlines and non-ASCII inside) and any header bytes survive packing."""
    candidates = [_candidate(f"fx|nba|home {i % 3}|away", i) for i in range(50)]
    packed = packing.pack(candidates)
    assert len(packed) == 1
    assert packing.unpack(None, packed[0], []) == candidates


def test_packing_splits_at_the_size_budget():
    """No packed value grows past ~the budget (Kafka refuses records over its message limit)."""
    candidates = [_candidate("fx|nba|a|b", i) for i in range(200)]
    packed = packing.pack(candidates, max_bytes=4000)
    assert len(packed) > 5
    assert all(len(value) < 4000 + 1000 for value in packed)
    assert [c for value in packed for c in packing.unpack(None, value, [])] == candidates


def test_an_unpacked_record_is_one_candidate_keyed_by_its_route():
    """A record in the format before packing (one candidate message, route as key) still reads."""
    value = _candidate("fx|nba|a|b", 1).value
    headers = [(h.RECEIVED_TS, b"1")]
    assert packing.unpack(b"fx|nba|a|b", value, headers) == [packing.Candidate(b"fx|nba|a|b", value, headers)]


@pytest.mark.parametrize("value", [
    b"[no index line", b'[["r",[],5]]\nabc', b'[["r",[],2]]\nabc', b"[{]\n{}",
    # Wrong shapes and types: each one escaped as a TypeError or AttributeError, past the dead letter.
    b"[1]\n", b'"r"\n', b'[["r",[["k",1]],0]]\n', b'[["r",[],"3"]]\nabc', b'[[1,[],0]]\n',
    b'[["r",[],-1],["s",[],1]]\na', b'[["r",[],true]]\na', b'[["r",[[1,"v"]],0]]\n', b'[["r",[["k","\\u0394"]],0]]\n',
    b'[["r",[]]]\n', b'[["r",7,0]]\n',
])
def test_a_malformed_packed_record_is_refused(value):
    with pytest.raises(ValueError, match="packed resolve record"):
        packing.unpack(None, value, [])


def test_stage_one_output_round_trips_through_packing():
    """What `process_raw` emits for a real raw record is what stage 2 gets after packing."""
    raw = (b'{"provider":"theoddsapi","feed":"scores","key":"g1","receivedAt":"2026-01-01T00:00:00Z",'
           b'"payload":[{"id":"g1","sport_key":"basketball_nba","sport_title":"NBA",'
           b'"commence_time":"2026-01-01T00:00:00Z","completed":false,"home_team":"A","away_team":"B",'
           b'"scores":null,"last_update":null}]}')
    processed = process_raw("raw.theoddsapi", 0, 7, raw, [(h.RECEIVED_TS, b"1767225600000")])
    assert processed.dead_letter is None, processed.dead_letter
    candidates = [packing.Candidate(o.key, o.value, o.headers) for o in processed.records]
    assert packing.unpack(None, packing.pack(candidates)[0], []) == candidates


def test_partitions_are_the_java_clients_choice():
    """The cached partition of a key is aiokafka's (and Java's) murmur2 default, for any count."""
    cache, default = Partitions(max_keys=3), DefaultPartitioner()
    for count in (1, 4, 12):
        for key in (b"fx|soccer|arsenal|chelsea", b"race|f1|2026|3", b"", b"px|theoddsapi|x1"):
            assert cache.of(key, count) == default(key, list(range(count)), list(range(count)))


class FakeBatch:
    def __init__(self, capacity: int) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.capacity = capacity
        self.closed = False

    def append(self, *, key, value, timestamp, headers):
        if self.closed or len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def close(self):
        self.closed = True

    def record_count(self):
        return len(self.records)


class FakeProducer:
    """Batches per partition; deliveries succeed, or fail for one topic."""

    def __init__(self, capacity: int = 3, failing: str | None = None) -> None:
        self.capacity, self.failing = capacity, failing
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []

    async def partitions_for(self, topic):
        return {0, 1, 2, 3}

    def create_batch(self):
        return FakeBatch(self.capacity)

    async def send_batch(self, batch, topic, *, partition):
        assert batch.closed
        self.sent.append((topic, partition, batch.records))
        future = asyncio.get_running_loop().create_future()
        if topic == self.failing:
            future.set_exception(RuntimeError("broker said no"))
        else:
            future.set_result(None)
        return future


async def test_publisher_keeps_each_partitions_order_across_full_batches():
    producer = FakeProducer(capacity=3)
    publisher = BatchPublisher(producer)
    keys = [b"k%d" % i for i in range(6)]
    for n in range(40):
        await publisher.add("canonical.events", keys[n % 6], b"%d" % n, [])
    await publisher.flush()
    assert publisher.pending == 0
    per_partition: dict[int, list[bytes]] = {}
    for _topic, partition, records in producer.sent:
        assert len(records) <= 3
        for key, value in records:
            assert Partitions().of(key, 4) == partition
            per_partition.setdefault(partition, []).append(value)
    assert sorted(v for values in per_partition.values() for v in values) == sorted(b"%d" % n for n in range(40))
    for values in per_partition.values():
        assert values == sorted(values, key=int)


async def test_a_failed_delivery_stops_the_worker_before_flush_returns(monkeypatch):
    """The caller commits or acks only after flush: a lost delivery must stop the process first."""
    stopped: list[str] = []

    def fake_fatal(reason: str) -> None:
        stopped.append(reason)
        raise SystemExit(70)

    monkeypatch.setattr(guard, "fatal", fake_fatal)
    publisher = BatchPublisher(FakeProducer(failing="canonical.odds"))
    await publisher.add("canonical.events", b"a", b"1", [])
    await publisher.add("canonical.odds", b"b", b"2", [])
    with pytest.raises(SystemExit):
        await publisher.flush()
    assert stopped
    assert "could not be delivered" in stopped[0]
