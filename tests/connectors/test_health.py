"""Feed health: the pure state machine, the monitor's records, and feed_status through real Kafka."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from connectors.health import FeedHealth, HealthMonitor, HealthPolicy, MemoryStatusSink, Transition, publish_loop
from connectors.publisher import MemoryPublisher
from connectors.runner import run_connectors
from connectors.simulator.server import Simulator
from connectors.simulator.sportradar import key_of
from connectors.simulator.world import World
from runtime.settings import ProviderSettings
from schemas import topics
from tests.conftest import collect
from tests.connectors.amqp_support import serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += timedelta(seconds=seconds)


def test_silence_takes_a_feed_down_and_a_beat_brings_it_back():
    """up on the first beat, down after k missed expected beats, up again on the next beat."""
    health = FeedHealth(expected_interval_s=10, policy=HealthPolicy(missed_beats=3), started_at=0)
    assert health.beat(1) == Transition("up", None)
    assert health.beat(11) is None  # no change, no record
    assert health.check(40) is None  # 29 s < 3 x 10 s
    down = health.check(42)
    assert down is not None
    assert down.status == "down"
    assert down.reason.startswith("silent")
    assert health.check(60) is None  # already down
    assert health.beat(61) == Transition("up", None)


def test_a_feed_that_never_beats_goes_silent_from_its_start():
    """A feed registered but never heard from is down after k intervals."""
    health = FeedHealth(expected_interval_s=5, started_at=100)
    assert health.check(114) is None
    assert health.check(116) == Transition("down", "silent: no beat for 16s (expected every 5s)")


def test_consecutive_failures_take_a_feed_down_with_the_reason():
    """Fewer than max_failures failures change nothing; the next success resets the count."""
    health = FeedHealth(expected_interval_s=10, policy=HealthPolicy(max_failures=3))
    health.beat(0)
    assert health.failure(1, "server error") is None
    assert health.failure(2, "server error") is None
    assert health.beat(3) is None  # still up, count reset
    assert health.failure(4, "timeout") is None
    assert health.failure(5, "timeout") is None
    assert health.failure(6, "timeout") == Transition("down", "timeout")
    assert health.beat(7) == Transition("up", None)


def test_slow_publishing_is_down_slow_until_the_lag_recovers():
    """A beat whose publish lag exceeds the threshold is `slow`."""
    health = FeedHealth(expected_interval_s=10, policy=HealthPolicy(max_lag_s=5))
    assert health.beat(0, lag_s=0.2) == Transition("up", None)
    slow = health.beat(1, lag_s=9.0)
    assert slow is not None
    assert slow.status == "down"
    assert slow.reason.startswith("slow")
    assert health.beat(2, lag_s=1.0) == Transition("up", None)


def test_push_feed_down_is_immediate():
    """A lost push connection is down at once, whatever the failure count."""
    health = FeedHealth(expected_interval_s=10)
    health.beat(0)
    assert health.down(1, "AMQP connection lost (ConnectionError)") == Transition(
        "down", "AMQP connection lost (ConnectionError)")


def test_monitor_records_transitions_with_increasing_seq_per_feed():
    """Each change is a FeedStatus keyed provider|feed; seq increases per feed even if the wall clock steps back."""
    clock = FakeClock()
    monitor = HealthMonitor(HealthPolicy(missed_beats=2), clock=clock, wall=lambda: clock.wall)
    monitor.register("sportradar", "uof", 10)
    monitor.register("statscore", "events", 10)
    monitor.beat("sportradar", "uof")
    monitor.beat("statscore", "events")
    clock.advance(25)
    monitor.check()
    clock.wall -= timedelta(hours=1)  # NTP step backwards
    monitor.beat("sportradar", "uof")
    records = monitor.drain()
    assert [(r.entity_key, r.status) for r in records] == [
        ("sportradar|uof", "up"), ("statscore|events", "up"), ("sportradar|uof", "down"),
        ("statscore|events", "down"), ("sportradar|uof", "up")]
    uof = [r.seq for r in records if r.feed == "uof"]
    assert uof == sorted(uof)
    assert len(set(uof)) == 3
    assert records[2].reason == "silent: no beat for 25s (expected every 10s)"
    assert monitor.drain() == []


async def test_publish_loop_retries_records_a_failed_publish_did_not_store():
    """A failing sink loses nothing: records are requeued and published in order once it recovers."""

    class Flaky(MemoryStatusSink):
        fail = 2

        async def publish_status(self, records):
            if self.fail:
                self.fail -= 1
                raise ConnectionError("kafka down")
            await super().publish_status(records)

    monitor = HealthMonitor()
    sink = Flaky()
    stop = asyncio.Event()
    task = asyncio.create_task(publish_loop(monitor, sink, stop, check_s=0.05))
    monitor.register("p", "f", 60)
    monitor.beat("p", "f")
    monitor.down("p", "f", "gone")
    for _ in range(100):
        if len(sink.records) == 2:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [r.status for r in sink.records] == ["up", "down"]


@pytest.mark.integration
async def test_feed_status_up_down_up_through_kafka(stack, consumer_factory):
    """A polled feed that fails repeatedly is reported down on canonical.feed_status, then up again."""
    sim = Simulator(World(matches=3, seed=random.randrange(1 << 30)))  # a fresh URN, so a fresh key
    sim.world.tick(3)  # the first match of each sport is live: Sportradar's cache max-age drops to 1 s
    urn = next(key_of(m) for m in sim.world.matches.values() if m.sport == "soccer")
    consumer = await consumer_factory(topics.FEED_STATUS)
    async with serve(sim) as (base_url, _app):
        settings = stack.model_copy(update={"providers": {
            name: ProviderSettings(enabled=False) for name in ("theoddsapi", "statscore", "sportsdataio",
                                                               "apisports", "jolpica")
        } | {"sportradar": ProviderSettings(
            base_url=base_url, api_key="sim-sportradar-key", feeds=["soccer-summary"], poll_live_s=1, poll_idle_s=1,
            params={"soccer_events": urn})}})
        stop = asyncio.Event()
        runner = asyncio.create_task(run_connectors(settings, MemoryPublisher(), stop, only=["sportradar"]))
        key = f"sportradar|soccer-summary:{urn}".encode()
        try:
            [first] = await collect(consumer, lambda m: m.key == key, count=1, timeout=20)
            from connectors.simulator.faults import Fault

            sim.faults.add("sportradar", Fault("server_error"), count=3)
            rest = await collect(consumer, lambda m: m.key == key, count=2, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 20)
    statuses = [orjson.loads(m.value) for m in [first, *rest]]
    assert [s["status"] for s in statuses] == ["up", "down", "up"]
    assert statuses[1]["reason"] == "server error"
    assert statuses[0]["seq"] < statuses[1]["seq"] < statuses[2]["seq"]
    assert {s["type"] for s in statuses} == {"feed_status"}
