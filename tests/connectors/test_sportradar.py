"""Sportradar connector: REST feeds against the simulator, UOF through the stack's RabbitMQ, push streams."""

from __future__ import annotations

import json
import random

import httpx
from pydantic import SecretStr

from connectors.amqp import AmqpConsumer, Delivery
from connectors.health import HealthMonitor
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import MemoryPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.sportradar import STATE, UOF_URL, key_of
from connectors.simulator.world import World
from connectors.sportradar import CONNECTOR, UofHandler, parse_routing_key, push_stream, uof_endpoint
from runtime.settings import ProviderSettings
from schemas.canonical import Event, Odds
from schemas.providers import normalize
from schemas.timeutil import utc_now
from tests.conftest import fixture_path
from tests.connectors.amqp_support import eventually, rabbitmq_url, running, serve

__all__ = ["rabbitmq_url"]  # the fixture, imported for pytest


def world() -> World:
    w = World(matches=6, seed=random.randrange(1 << 30))
    w.tick(3)  # the first soccer and NBA matches are live
    return w


def settings_for(base_url: str, **params: str) -> ProviderSettings:
    return ProviderSettings(base_url=base_url, api_key=SecretStr("sim-sportradar-key"), params=params)


def test_feeds_build_the_documented_paths():
    """Summary and schedule paths follow the v4 soccer / v8 NBA layout."""
    s = ProviderSettings(params={"soccer_events": "sr:sport_event:1", "nba_games": "g-1",
                                 "soccer_schedule": "2025-01-15", "nba_schedule": "2025-01-15"})
    paths = {f.feed: f.path for f in CONNECTOR.feeds(s)}
    assert paths == {
        "soccer-summary": "/soccer/trial/v4/en/sport_events/sr:sport_event:1/summary.json",
        "soccer-schedule": "/soccer/trial/v4/en/schedules/2025-01-15/summaries.json",
        "nba-summary": "/nba/trial/v8/en/games/g-1/summary.json",
        "nba-schedule": "/nba/trial/v8/en/games/2025/01/15/schedule.json",
    }
    assert CONNECTOR.auth(ProviderSettings(api_key=SecretStr("k"))) == ({"x-api-key": "k"}, {})


def test_quota_from_plan_headers():
    """Remaining quota is allotted minus current."""
    quota = CONNECTOR.quota(httpx.Headers({"X-Plan-Quota-Allotted": "1000", "X-Plan-Quota-Current": "91"}))
    assert (quota.remaining, quota.used) == (909, 91)


def test_routing_keys_name_the_event():
    """UOF routing keys carry the message type and the event URN."""
    assert parse_routing_key("hi.-.live.odds_change.1.sr:match.1234.-") == ("odds_change", "sr:match:1234")
    assert parse_routing_key("hi.-.live.odds_change.5.sr:match.123") == ("odds_change", "sr:match:123")
    assert parse_routing_key("-.-.-.alive.-.-.-.-") == ("alive", None)


def test_uof_handler_keys_messages_and_treats_alive_as_heartbeat():
    """odds_change -> one XML record keyed by URN; alive -> heartbeat; subscribed=0 -> down."""
    handler = UofHandler()
    xml = fixture_path("sportradar", "uof_odds_change_live.xml").read_bytes()
    handled = handler.handle(Delivery("hi.-.live.odds_change.1.sr:match.10927088.-", xml, utc_now()))
    [envelope] = handled.envelopes
    assert (envelope.key, envelope.feed, envelope.content_type) == ("sr:match:10927088", "uof", "xml")
    assert all(isinstance(r, Odds) for r in normalize("sportradar", "uof", envelope.payload, envelope.params))
    alive = handler.handle(Delivery("-.-.-.alive.-.-.-.-", b'<alive product="1" timestamp="1" subscribed="1"/>',
                                    utc_now()))
    assert alive.heartbeat
    assert not alive.envelopes
    assert alive.down_reason is None
    lost = handler.handle(Delivery("-.-.-.alive.-.-.-.-", b'<alive product="3" timestamp="1" subscribed="0"/>',
                                   utc_now()))
    assert lost.down_reason == "producer 3 reports subscribed=0: recovery needed"


def test_uof_login_never_shows_the_token():
    """The UOF token is the AMQP username with a blank password; it stays a SecretStr until connect."""
    endpoint = uof_endpoint(ProviderSettings(client_secret=SecretStr("tok-123"), params={"uof_host": "mq"}))
    assert (endpoint.username, endpoint.password.get_secret_value(), endpoint.port, endpoint.tls) == (
        "tok-123", "", 5671, True)
    assert "tok-123" not in repr(endpoint.password)


async def test_rest_feeds_against_the_simulator_normalize():
    """Every REST feed polls the simulator and yields raw records the normalizers accept."""
    sim = Simulator(world())
    soccer = [key_of(m) for m in sim.world.matches.values() if m.sport == "soccer"]
    games = [key_of(m) for m in sim.world.matches.values() if m.sport_key == "basketball_nba"]
    today = sim.world.now.date().isoformat()
    async with serve(sim) as (base_url, _app), httpx.AsyncClient(base_url=base_url) as client:
        s = settings_for(base_url, soccer_events=",".join(soccer), nba_games=",".join(games),
                         soccer_schedule=today, nba_schedule=today)
        publisher = MemoryPublisher()
        for feed in CONNECTOR.feeds(s):
            poller = FeedPoller(CONNECTOR, feed, settings=s, client=client, publisher=publisher, state=ProviderState())
            result = await poller.poll_once()
            assert result.published >= 1, feed.name
            assert (await poller.poll_once()).published == 0  # 304 / unchanged: nothing republished
    events: dict[str, list] = {}
    for e in publisher.envelopes:
        events.setdefault(e.feed, []).extend(normalize("sportradar", e.feed, e.payload, e.normalizer_params()))
    assert all(isinstance(r, Event) for records in events.values() for r in records)
    assert {r.provider_event_id for records in events.values() for r in records} == set(soccer) | set(games)
    live = [r for f in ("soccer-summary", "nba-summary") for r in events[f] if r.status == "live"]
    assert live
    assert all(r.clock for r in live)


async def test_wrong_key_is_refused():
    """The simulator checks x-api-key like the real API."""
    sim = Simulator(world())
    async with serve(sim) as (base_url, _app), httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/soccer/trial/v4/en/schedules/live/summaries.json",
                                    headers={"x-api-key": "wrong"})
    assert response.status_code == 401


async def test_uof_odds_change_through_rabbitmq(rabbitmq_url):
    """The simulator publishes odds_change to the stack's RabbitMQ; the consumer turns it into Odds records."""
    sim = Simulator(world())
    port = int(rabbitmq_url.rsplit(":", 1)[1].strip("/"))
    publisher, monitor = MemoryPublisher(), HealthMonitor()

    def configure(app):
        app[UOF_URL] = rabbitmq_url

    async with serve(sim, configure) as (_base_url, app):
        app[STATE].alive_s = 0.3
        s = ProviderSettings(api_key=SecretStr("x"), client_secret=SecretStr("guest"), params={
            "uof_host": "127.0.0.1", "uof_port": str(port), "uof_tls": "false", "amqp_username": "guest",
            "uof_queue": f"sportsflow.uof.test-{random.randrange(1 << 30)}"})
        consumer = AmqpConsumer("sportradar", "uof", uof_endpoint(s), UofHandler(), publisher=publisher,
                                monitor=monitor, expected_beat_s=1.0)
        async with running(consumer.run):
            await eventually(lambda: monitor.status("sportradar", "uof") == "up", message="an alive beat")
            sim.world.tick(3)
            urn = next(f"sr:match:{key_of(m).rsplit(':', 1)[1]}" for m in sim.world.matches.values()
                       if m.sport == "soccer" and m.status == "live")
            await eventually(lambda: any(e.key == urn for e in publisher.envelopes), message="odds_change")
    envelope = next(e for e in publisher.envelopes if e.key == urn)
    records = normalize("sportradar", "uof", envelope.payload, envelope.params)
    assert {r.market for r in records if isinstance(r, Odds)} == {"moneyline", "total"}


async def test_push_stream_reconnects_and_catches_up_from_rest():
    """Stream lines become summaries; after the server drops the stream, seen events are re-read from REST."""
    sim = Simulator(world())
    publisher, monitor = MemoryPublisher(), HealthMonitor()
    async with serve(sim) as (base_url, app), httpx.AsyncClient(base_url=base_url) as client:
        app[STATE].heartbeat_s = 0.2
        stream = push_stream(CONNECTOR, "soccer", settings_for(base_url), publisher=publisher, monitor=monitor,
                             client=client)
        stream.backoff.base_s = 0.05
        async with running(stream.run):
            await eventually(lambda: monitor.status("sportradar", "push:soccer") == "up", message="heartbeat")
            sim.world.tick(3)
            await eventually(lambda: publisher.envelopes, message="a pushed summary")
            pushed = list(publisher.envelopes)
            assert {e.params.get("source") for e in pushed} == {"push"}
            await client.post("/_sim/sportradar/stream/drop")
            await eventually(lambda: stream.connections >= 2, message="a reconnect")
            await eventually(lambda: any(e.params.get("source") != "push" for e in publisher.envelopes),
                             message="the REST catch-up")
    caught_up = [e for e in publisher.envelopes if e.params.get("source") != "push"]
    assert {e.key for e in caught_up} == {e.key for e in pushed}
    for envelope in publisher.envelopes:
        assert normalize("sportradar", envelope.feed, envelope.payload, envelope.normalizer_params())


def test_soccer_summary_fixture_splits_into_one_record_keyed_by_urn():
    """A real v4 summary is one record keyed by its URN."""
    payload = json.loads(fixture_path("sportradar", "sportsapi_soccer_v4_sport_event_summary_live.json").read_text())
    feed = CONNECTOR.feeds(ProviderSettings(feeds=["soccer-summary"], params={"soccer_events": "x"}))[0]
    [(key, part)] = CONNECTOR.split(feed, payload)
    assert key == payload["sport_event"]["id"]
    assert part is payload
    assert CONNECTOR.is_live(feed, payload)

