"""UOF as the SDK runs it: producers from `alive`, recovery requests, `snapshot_complete`, a durable queue."""

from __future__ import annotations

import uuid
from datetime import timedelta

import aio_pika
import httpx
import pytest
from pydantic import SecretStr

from connectors.health import HealthMonitor
from connectors.publisher import MemoryPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.sportradar import STATE, UOF_URL
from connectors.simulator.uof import SettlementClock, rolls_back, settlement_script, settlement_xml
from connectors.simulator.world import World
from connectors.sportradar import uof_feeds
from connectors.uof import FixtureCache, UofSession
from runtime.settings import ProviderSettings
from schemas.canonical import Settlement
from schemas.providers import normalize
from tests.connectors.amqp_support import eventually, rabbitmq_url, running, serve

__all__ = ["rabbitmq_url"]  # the fixture, imported for pytest


class NoApi:
    async def post(self, *_args: object, **_kwargs: object) -> object:
        raise AssertionError("not called in this test")


def session(clock: list[float]) -> tuple[UofSession, HealthMonitor]:
    monitor = HealthMonitor(clock=lambda: clock[0])
    return UofSession(NoApi(), [1, 3], monitor, clock=lambda: clock[0]), monitor  # type: ignore[arg-type]


def test_a_producer_is_up_only_after_its_snapshot_complete_and_down_after_20s_without_alive() -> None:
    clock = [0.0]
    s, monitor = session(clock)
    live = s.producers[1]
    live.pending = 42  # a recovery was requested
    s.observe("alive", {"product": "1", "subscribed": "1"})
    assert not live.up
    s.observe("snapshot_complete", {"product": "1", "request_id": "41"})  # someone else's recovery
    assert not live.up
    s.observe("snapshot_complete", {"product": "1", "request_id": "42"})
    assert live.up
    assert monitor.status("sportradar", "uof:liveodds") == "up"
    s.observe("odds_change", {"product": "1", "timestamp": "1700000000123"})
    assert live.last_processed_ms == 1700000000123
    clock[0] += 19.0
    s.check()
    assert live.up
    clock[0] += 2.0  # 21 s since the last alive
    s.check()
    assert not live.up
    assert live.needs_recovery
    assert monitor.status("sportradar", "uof:liveodds") == "down"


def test_alive_subscribed_0_takes_the_producer_down_for_recovery() -> None:
    clock = [0.0]
    s, _ = session(clock)
    prematch = s.producers[3]
    prematch.up, prematch.needs_recovery = True, False
    s.observe("alive", {"product": "3", "subscribed": "0"})
    assert not prematch.up
    assert prematch.needs_recovery
    assert "subscribed=0" in prematch.reason


@pytest.mark.timeout(120)
async def test_a_30s_disconnect_mid_match_is_recovered_through_a_recovery_request(rabbitmq_url):
    """Disconnected for 30 s of play with the queue lost: the recovery request brings back every message."""
    sim = Simulator(World(seed=5, matches=3, sport_keys=("soccer_epl",), live_ticks=60))
    queue = f"sportsflow.uof.test-{uuid.uuid4().hex[:8]}"
    port = int(rabbitmq_url.rsplit(":", 1)[1].strip("/"))

    def configure(app):
        app[UOF_URL] = rabbitmq_url

    try:
        await disconnect_and_recover(sim, configure, queue, port, rabbitmq_url, MemoryPublisher())
    finally:  # the queue is durable: never leave it behind in the shared broker
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            await (await connection.channel()).queue_delete(queue)


async def disconnect_and_recover(sim, configure, queue, port, rabbitmq_url, publisher) -> None:
    """Connect and recover, play, lose the connection and the queue for 30 s of play, reconnect: every
    message sent meanwhile must arrive again through the recovery request (`publisher.envelopes`)."""
    async with serve(sim, configure) as (base_url, app):
        state = app[STATE]
        state.alive_s = 0.3
        settings = ProviderSettings(client_secret=SecretStr("guest"), params={
            "uof_host": "127.0.0.1", "uof_port": str(port), "uof_tls": "false", "amqp_username": "guest",
            "uof_queue": queue, "uof_api_url": base_url})
        monitor = HealthMonitor()
        consumer, uof = uof_feeds(settings, publisher, monitor)
        assert isinstance(uof, UofSession)
        received = lambda: {e.payload for e in publisher.envelopes}  # noqa: E731
        async with running(consumer.run, uof.run):
            await eventually(lambda: all(p.up for p in uof.producers.values()), timeout=30,
                             message="both producers recovered")
            for _ in range(3):
                sim.world.tick(3.0)
            await eventually(lambda: any(p == 1 for _, p, *_ in state.history), message="live odds sent")
            await eventually(lambda: {b.decode() for *_, b in state.history} <= received(), timeout=20,
                             message="the live messages")
        first_recoveries = len(state.recoveries)
        assert all(after is None for _, after, _ in state.recoveries)  # a first start asks for the current state

        # Disconnected: 30 s of the match go by, and the queue is lost with the connection.
        sent_before = len(state.history)
        for _ in range(10):
            sim.world.tick(3.0)
        await eventually(lambda: len(state.history) > sent_before, message="messages while disconnected")
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
        missed = [body.decode() for *_, body in list(state.history)[sent_before:]]
        assert missed
        assert not set(missed) & received()

        async with running(consumer.run, uof.run):
            await eventually(lambda: len(state.recoveries) > first_recoveries and all(
                p.up for p in uof.producers.values()), timeout=30, message="recovery after the reconnect")
            await eventually(lambda: set(missed) <= received(), timeout=20, message="every missed message")
        live_recovery = next(r for r in state.recoveries[first_recoveries:] if r[0] == 1)
        assert live_recovery[1] is not None  # `after` = the last message processed before the disconnect


class FixtureApi:
    """Answers fixture.xml like the UOF API; counts requests; can be down."""

    def __init__(self) -> None:
        self.calls, self.down = 0, False

    async def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        self.calls += 1
        if self.down:
            return httpx.Response(503)
        urn = path.split("/")[-2]
        return httpx.Response(200, text=(
            f'<fixtures_fixture><fixture id="{urn}" start_time="2025-01-15T17:00:00+00:00">'
            '<tournament id="sr:tournament:17" name="Premier League"><sport id="sr:sport:1" name="Soccer"/>'
            '</tournament><competitors><competitor qualifier="home" name="Arsenal"/>'
            '<competitor qualifier="away" name="Chelsea"/></competitors></fixture></fixtures_fixture>'))


async def test_fixtures_are_cached_refetched_after_fixture_change_and_not_hammered_when_down() -> None:
    clock = [0.0]
    api = FixtureApi()
    cache = FixtureCache(api, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert await cache.get("sr:match:1") == {"start_time": "2025-01-15T17:00:00+00:00", "league": "Premier League",
                                             "sport": "soccer", "home_team": "Arsenal", "away_team": "Chelsea"}
    await cache.get("sr:match:1")
    assert api.calls == 1
    cache.forget("sr:match:1")  # fixture_change
    api.down = True
    assert await cache.get("sr:match:1") is None
    assert await cache.get("sr:match:1") is None
    assert api.calls == 2  # one try per minute while the endpoint fails
    clock[0] += 61
    api.down = False
    assert await cache.get("sr:match:1") is not None
    assert api.calls == 3


def test_the_simulators_settlement_script_normalizes_to_what_the_score_says() -> None:
    """Every settlement message the simulator sends is valid UOF for the normalizer, and names the winner."""
    world = World(seed=11, matches=2, sport_keys=("soccer_epl",), live_ticks=3)
    for _ in range(40):
        world.tick(3.0)
    clock = SettlementClock()
    due = clock.due(list(world.matches.values()), world.now + timedelta(seconds=10))
    assert clock.due(list(world.matches.values()), world.now + timedelta(seconds=10)) == []  # each sent once
    for match in world.matches.values():
        script = [kind for m, kind, _ in due if m is match]
        assert script == [kind for _, kind in settlement_script(match)]
        assert ("rollback_bet_settlement" in script) == rolls_back(match)
        records = [r for m, kind, at in due if m is match
                   for r in normalize("sportradar", "uof", settlement_xml(match, kind, at)[1].decode(), {})]
        first = next(r for r in records if isinstance(r, Settlement) and r.market == "moneyline")
        h, a = match.home_score, match.away_score
        winner = "home" if h > a else "away" if a > h else "draw"
        assert [o.side for o in first.outcomes if o.result == "won"] == [winner]
