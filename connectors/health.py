"""Feed health: every provider feed has a heartbeat, and each up/down change is a `FeedStatus` record.

Beats are real for push feeds (UOF `alive` messages, HTTP stream heartbeat lines) and synthetic for
polled feeds (a successful poll is a beat at the expected cadence). A feed goes down when

- `silent`: neither a beat nor a failure for `missed_beats` expected intervals;
- a failure reason: `max_failures` consecutive failures (or at once, for a lost push connection);
- `slow`: it beats, but its records reach Kafka more than `max_lag_s` after the provider answered.

`FeedHealth` is the pure state machine of one feed (time is passed in); `HealthMonitor` holds all
feeds of a process and queues the records; `publish_loop` sends them to `canonical.feed_status`,
keyed `provider|feed`. `seq` starts at the wall clock in milliseconds and then counts up, so it keeps
increasing per feed across restarts without stored state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from aiokafka import AIOKafkaProducer

from runtime.observability.hooks import observe_feed
from schemas import topics
from schemas.canonical import FeedStatus

log = logging.getLogger(__name__)

State = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    missed_beats: int = 3
    max_failures: int = 3
    max_lag_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Transition:
    status: State
    reason: str | None


@dataclass
class FeedHealth:
    """One feed's health. Methods take `now` (monotonic seconds) and return a Transition or None."""

    expected_interval_s: float
    policy: HealthPolicy = field(default_factory=HealthPolicy)
    started_at: float = 0.0
    status: State | None = None
    reason: str | None = None
    last_beat: float | None = None
    last_heard: float | None = None  # last beat or failure
    failures: int = 0

    def beat(self, now: float, lag_s: float | None = None) -> Transition | None:
        self.last_beat = self.last_heard = now
        self.failures = 0
        if lag_s is not None and lag_s > self.policy.max_lag_s:
            return self._go("down", f"slow: publish lag {lag_s:.1f}s > {self.policy.max_lag_s:.0f}s")
        return self._go("up", None)

    def failure(self, now: float, reason: str) -> Transition | None:
        self.failures += 1
        self.last_heard = now  # a failing feed is not silent: its failures decide
        if self.failures >= self.policy.max_failures:
            return self._go("down", reason)
        return None

    def down(self, now: float, reason: str) -> Transition | None:
        """Down at once: the feed itself says so (a dropped push connection, a producer unsubscribed)."""
        self.failures = max(self.failures, self.policy.max_failures)
        if self.status == "down" and self.reason != reason:  # still down, but now we know why: say so
            self.reason = reason
            return Transition("down", reason)
        return self._go("down", reason)

    def check(self, now: float) -> Transition | None:
        """Silence detection; call periodically."""
        since = self.last_heard if self.last_heard is not None else self.started_at
        silent_for = now - since
        if silent_for > self.policy.missed_beats * self.expected_interval_s:
            return self._go("down", f"silent: no beat for {silent_for:.0f}s (expected every "
                                    f"{self.expected_interval_s:.0f}s)")
        return None

    def _go(self, status: State, reason: str | None) -> Transition | None:
        if status == self.status:
            return None
        self.status, self.reason = status, reason
        return Transition(status, reason)


class StatusSink(Protocol):
    async def publish_status(self, records: Sequence[FeedStatus]) -> None:
        """Return once every record is durably stored (or raise)."""


@dataclass
class MemoryStatusSink:
    records: list[FeedStatus] = field(default_factory=list)

    async def publish_status(self, records: Sequence[FeedStatus]) -> None:
        self.records.extend(records)


class HealthMonitor:
    """All feeds of one process. Not thread-safe: call it from the event loop only."""

    def __init__(
        self, policy: HealthPolicy | None = None, clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy or HealthPolicy()
        self._clock, self._wall = clock, wall
        self._feeds: dict[tuple[str, str], FeedHealth] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._base: dict[tuple[str, str], float] = {}  # the cadence a feed was registered with
        self._pending: list[FeedStatus] = []
        self.changed = asyncio.Event()

    def register(self, provider: str, feed: str, expected_interval_s: float) -> None:
        key = (provider, feed)
        if key not in self._feeds:
            self._feeds[key] = FeedHealth(expected_interval_s, self.policy, started_at=self._clock())
            self._base[key] = expected_interval_s

    def stretch(self, provider: str, feed: str, interval_s: float) -> None:
        """The feed will next beat after at least `interval_s` (e.g. the provider's cache max-age)."""
        key = (provider, feed)
        self._get(provider, feed).expected_interval_s = max(self._base.get(key, 0.0), interval_s)

    def beat(self, provider: str, feed: str, lag_s: float | None = None) -> None:
        self._record(provider, feed, self._get(provider, feed).beat(self._clock(), lag_s))

    def failure(self, provider: str, feed: str, reason: str) -> None:
        self._record(provider, feed, self._get(provider, feed).failure(self._clock(), reason))

    def down(self, provider: str, feed: str, reason: str) -> None:
        self._record(provider, feed, self._get(provider, feed).down(self._clock(), reason))

    def check(self) -> None:
        now = self._clock()
        for (provider, feed), health in self._feeds.items():
            self._record(provider, feed, health.check(now))

    def status(self, provider: str, feed: str) -> State | None:
        health = self._feeds.get((provider, feed))
        return health.status if health else None

    def drain(self) -> list[FeedStatus]:
        records, self._pending = self._pending, []
        self.changed.clear()
        return records

    def requeue(self, records: Sequence[FeedStatus]) -> None:
        """Put back records a failed publish did not store; they go out first next time."""
        self._pending[:0] = records
        self.changed.set()

    def _get(self, provider: str, feed: str) -> FeedHealth:
        health = self._feeds.get((provider, feed))
        if health is None:  # a feed nobody registered: assume the default idle cadence
            self.register(provider, feed, 60.0)
            health = self._feeds[(provider, feed)]
        return health

    def _record(self, provider: str, feed: str, transition: Transition | None) -> None:
        if transition is None:
            return
        key = (provider, feed)
        wall = self._wall()
        seq = max(self._seq.get(key, 0) + 1, int(wall.timestamp() * 1000))
        self._seq[key] = seq
        self._pending.append(FeedStatus(provider=provider, feed=feed, status=transition.status,
                                        reason=transition.reason, timestamp=wall, seq=seq))
        observe_feed(provider, feed, up=transition.status == "up")
        log.log(logging.INFO if transition.status == "up" else logging.WARNING, "feed %s/%s is %s%s",
                provider, feed, transition.status, f": {transition.reason}" if transition.reason else "")
        self.changed.set()


async def publish_loop(monitor: HealthMonitor, sink: StatusSink, stop: asyncio.Event, check_s: float = 1.0) -> None:
    """Check for silent feeds every `check_s` and publish transitions as they happen, until `stop`.

    Cancel-safe: records not yet acknowledged are put back and published by a later call.
    """
    while not stop.is_set():
        monitor.check()
        await _flush(monitor, sink)
        waits = [asyncio.ensure_future(monitor.changed.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=check_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
    await _flush(monitor, sink)  # what changed while stopping still goes out


async def _flush(monitor: HealthMonitor, sink: StatusSink) -> None:
    records = monitor.drain()
    if not records:
        return
    try:
        await sink.publish_status(records)
    except asyncio.CancelledError:
        monitor.requeue(records)
        raise
    except Exception:  # the sink is Kafka: any failure means "try again later", never lose the record
        log.exception("publishing %d feed status records failed; will retry", len(records))
        monitor.requeue(records)


class KafkaStatusSink:
    """Publishes FeedStatus records to `canonical.feed_status` with an idempotent producer."""

    def __init__(self, client_options: dict[str, Any]) -> None:
        self._options = client_options
        self._producer: Any = None

    async def __aenter__(self) -> KafkaStatusSink:

        self._producer = AIOKafkaProducer(**self._options, acks="all", enable_idempotence=True)
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):  # stopping must not mask the error that ended the run
                await self._producer.stop()

    async def publish_status(self, records: Sequence[FeedStatus]) -> None:
        futures = [
            await self._producer.send(topics.FEED_STATUS, value=r.to_json(), key=r.entity_key.encode())
            for r in records
        ]
        await asyncio.gather(*futures)
