"""The worker's safety rails: the stall watchdog, state expiry and the deferred changelog writes."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.partitioner import DefaultPartitioner

from agents import guard


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    """Just what the watchdog reads: assignment, committed offsets, highwaters; records seeks."""

    committed: dict[TP, int | None]
    highwaters: dict[TP, int]
    seeks: list[tuple[TP, int]] = field(default_factory=list)

    def assignment(self):
        return set(self.committed)

    @property
    def _committed_offset(self):
        return self.committed

    def highwater(self, tp):
        return self.highwaters[tp]

    async def seek(self, tp, offset):
        self.seeks.append((tp, offset))


@dataclass
class FakeApp:
    consumer: FakeConsumer


async def test_watchdog_reseeks_a_partition_whose_lag_grows_without_commits(monkeypatch):
    """No commit for longer than the timeout while lag grows: reported and sought back to the commit."""
    clock = [1000.0]
    monkeypatch.setattr(guard.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(guard, "_progress", guard._Progress())
    stuck, moving = TP("raw.theoddsapi", 0), TP("raw.theoddsapi", 1)
    consumer = FakeConsumer({stuck: 10, moving: 10}, {stuck: 50, moving: 50})
    app = FakeApp(consumer)
    await guard.watchdog(app, timeout_s=30)
    clock[0] += 31
    consumer.committed[moving] = 40  # this one makes progress
    consumer.highwaters[stuck] = 80  # this one's lag grows, its commit does not move
    await guard.watchdog(app, timeout_s=30)
    assert consumer.seeks == [(stuck, 10)]
    assert guard._progress.stalls == 1


async def test_watchdog_leaves_idle_partitions_alone(monkeypatch):
    """A partition with no lag is healthy however long since its last commit."""
    clock = [0.0]
    monkeypatch.setattr(guard.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(guard, "_progress", guard._Progress())
    idle = TP("raw.jolpica", 0)
    consumer = FakeConsumer({idle: 5}, {idle: 5})
    for _ in range(5):
        await guard.watchdog(FakeApp(consumer), timeout_s=30)
        clock[0] += 60
    assert consumer.seeks == []


def test_expiry_yields_entities_past_their_ttl_once(monkeypatch):
    """Entities untouched for longer than the TTL are expired, per partition, once."""
    monkeypatch.setattr(guard.time, "monotonic", iter(range(0, 100, 2)).__next__)
    expiry = guard.Expiry(ttl_ms=1000)
    expiry.touch(0, "old", updated_ms=0)
    expiry.touch(0, "fresh", updated_ms=5000)
    expiry.touch(1, "other-partition", updated_ms=0)
    assert expiry.due(0, now_ms=5500) == ["old"]
    assert expiry.due(0, now_ms=99999) == ["fresh"]
    assert expiry.due(1, now_ms=5500) == ["other-partition"]


def test_entities_expire_by_the_partitions_own_clock(monkeypatch):
    """After an outage longer than the TTL the wall clock says every state is old; the partition's clock
    (the latest update time it saw, restored ones included) says only those the backlog left behind are."""
    monkeypatch.setattr(guard.time, "monotonic", iter(range(0, 100, 2)).__next__)
    expiry = guard.Expiry(ttl_ms=1000)
    expiry.seed([(0, "left-behind", 0), (0, "recent", 4800)], {0})
    expiry.touch(0, "backlog", updated_ms=5000)
    wall = 60_000
    assert expiry.stream_ms(0, wall) == 5000
    assert expiry.stream_ms(1, wall) == wall  # a partition that saw nothing yet
    assert expiry.stream_ms(0, now_ms=3000) == 3000  # never ahead of the wall clock
    assert expiry.due(0, now_ms=expiry.stream_ms(0, wall)) == ["left-behind"]
    fixtures = guard.Expiry(ttl_ms=1000)
    assert guard.rebalanced(7, expiry, fixtures)  # a new consumer generation: both indexes forgotten
    assert (expiry.indexed, expiry.stream_ms(0, wall), expiry.due(0, now_ms=wall)) == (set(), wall, [])
    expiry.seed([(0, "again", 5000)], {0})
    assert not guard.rebalanced(7, expiry, fixtures)  # the same generation: kept
    assert expiry.indexed == {0}


def test_expiry_index_is_rebuilt_from_restored_tables(monkeypatch):
    """After a restart the in-memory index is empty: seeding it from the stored states (which record
    their partition) and fixture lists (partition of the route key) expires them as before."""
    monkeypatch.setattr(guard.time, "monotonic", iter(range(0, 100, 2)).__next__)
    entities = {b"e-old": guard.dumps({"seq": 3, "updated": 0, "p": 2}),
                b"e-new": guard.dumps({"seq": 1, "updated": 9000, "p": 2}),
                b"e-legacy": guard.dumps({"seq": 1, "updated": 0})}  # written before states had `p`
    expiry = guard.Expiry(ttl_ms=1000)
    assert expiry.seed(guard.entity_entries(entities.items()), {2}) == 2
    assert expiry.indexed == {2}
    assert expiry.due(2, now_ms=5000) == ["e-old"]
    route = b"fx|soccer|a|b"
    fixtures = {route: guard.dumps([{"id": "sf_1", "start": 100}, {"id": "sf_2", "start": 4000}])}
    fixture_expiry = guard.Expiry(ttl_ms=1000)
    fixture_expiry.seed(guard.fixture_entries(fixtures.items(), partitions=8), range(8))
    part = guard.route_partition(route, 8)
    assert fixture_expiry.due(part, now_ms=4500) == []  # the later fixture started 500 ms ago
    assert fixture_expiry.due(part, now_ms=5500) == [route.decode()]


def test_route_partition_is_the_producers_partitioner():
    """The route key lands where aiokafka's default partitioner puts it (murmur2, as the Java client)."""
    for key in (b"fx|soccer|arsenal|chelsea", b"race|f1|2026|3", b"px|theoddsapi|x1"):
        assert guard.route_partition(key, 8) == DefaultPartitioner()(key, list(range(8)), list(range(8)))
