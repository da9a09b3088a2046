"""STATSCORE connector: OAuth refresh before expiry, events against the simulator, incidents via RabbitMQ."""

from __future__ import annotations

import asyncio
import itertools
import random

import httpx
import pytest
from pydantic import SecretStr

from connectors.amqp import AmqpConsumer, AmqpEndpoint, Delivery
from connectors.errors import ProviderError
from connectors.health import HealthMonitor
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import MemoryPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.statscore import STATE, event_id
from connectors.simulator.world import World
from connectors.statscore import IncidentHandler, Statscore, Token, TokenCache, oauth_fetcher
from runtime.settings import ProviderSettings
from schemas.canonical import Event
from schemas.providers import normalize
from schemas.timeutil import utc_now
from tests.conftest import fixture_path
from tests.connectors.amqp_support import eventually, rabbitmq_url, running, serve

__all__ = ["rabbitmq_url"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_refreshed_before_it_expires():
    """With a fake clock: the refresher renews `margin` before expiry, so auth never sees an expired token."""
    clock = Clock()
    fetched: list[float] = []

    async def fetch() -> Token:
        fetched.append(clock.now)
        return Token(SecretStr(f"t{len(fetched)}"), clock.now + 3600)

    stop = asyncio.Event()
    observed: list[str | None] = []

    async def sleep(seconds: float) -> None:
        # Time passes in small steps; a poll reads the token at every step.
        while seconds > 0 and not stop.is_set():
            step = min(seconds, 60.0)
            clock.now += step
            seconds -= step
            observed.append(cache.current())
            if len(fetched) >= 4:
                stop.set()
        await asyncio.sleep(0)

    cache = TokenCache(fetch, refresh_margin_s=300, clock=clock, sleep=sleep)
    await cache.ensure()
    await asyncio.wait_for(cache.run(stop), 5)
    assert [b - a for a, b in itertools.pairwise(fetched)] == [3300.0, 3300.0, 3300.0]
    assert None not in observed  # never expired between refreshes
    assert cache.current() == "t4"


async def test_failed_refresh_is_retried_while_the_old_token_is_valid():
    """A refresh failure is a health failure and is retried; the cached token keeps serving."""
    clock = Clock()
    calls = 0

    async def fetch() -> Token:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ProviderError("statscore", "oauth", "token refused", status=503)
        return Token(SecretStr(f"t{calls}"), clock.now + 1000)

    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if calls >= 3:
            stop.set()
        await asyncio.sleep(0)

    monitor = HealthMonitor(clock=clock)
    cache = TokenCache(fetch, refresh_margin_s=100, clock=clock, sleep=sleep, monitor=monitor)
    await cache.ensure()
    await asyncio.wait_for(cache.run(stop), 5)
    assert calls == 3
    assert cache.current() == "t3"
    assert monitor.status("statscore", "oauth") == "up"


async def test_oauth_and_events_against_the_simulator():
    """The token from /v2/oauth authorises /v2/events; the events normalize into one Event per match."""
    sim = Simulator(World(matches=6, seed=random.randrange(1 << 30)))
    sim.world.tick(3)
    provider = Statscore()
    settings = ProviderSettings(client_id="7", client_secret=SecretStr("sim-statscore-key"), feeds=["events"],
                                params={"events_status_type": "live"})
    async with serve(sim) as (base_url, _app), httpx.AsyncClient(base_url=base_url) as client:
        await provider.prepare(settings, client, HealthMonitor())
        _headers, params = provider.auth(settings)
        assert params["token"]
        [feed] = provider.feeds(settings)
        publisher = MemoryPublisher()
        poller = FeedPoller(provider, feed, settings=settings, client=client, publisher=publisher,
                            state=ProviderState())
        await poller.poll_once()
        bad = ProviderSettings(client_id="7", client_secret=SecretStr("wrong"))
        with pytest.raises(ProviderError) as refused:
            await oauth_fetcher(client, bad)()
    assert "wrong" not in str(refused.value)
    assert refused.value.status == 401
    [envelope] = publisher.envelopes
    events = normalize("statscore", "events", envelope.payload, envelope.normalizer_params())
    live = {event_id(m) for m in sim.world.matches.values() if m.status == "live" and m.sport != "americanfootball"}
    assert {e.provider_event_id for e in events} == {str(i) for i in live}
    assert all(isinstance(e, Event) and e.status == "live" for e in events)


async def test_expired_token_is_replaced_by_the_background_refresh():
    """With a 2 s token lifetime and a 1.5 s margin the refresher keeps polls authorised."""
    sim = Simulator(World(matches=3, seed=random.randrange(1 << 30)))
    settings = ProviderSettings(client_id="7", client_secret=SecretStr("sim-statscore-key"))
    async with serve(sim) as (base_url, app), httpx.AsyncClient(base_url=base_url) as client:
        app[STATE].token_ttl_s = 2.0
        cache = TokenCache(oauth_fetcher(client, settings), refresh_margin_s=1.5)
        await cache.ensure()
        async with running(cache.run):
            for _ in range(6):
                response = await client.get("/v2/events", params={"token": cache.current() or ""})
                assert response.status_code == 200
                await asyncio.sleep(0.5)
    assert cache.refreshes >= 4


def test_incident_handler_keys_by_event():
    """A pushed message becomes one `incidents` record keyed by its event id."""
    body = fixture_path("statscore", "amqp_push_message_incident.json").read_bytes()
    [envelope] = IncidentHandler().handle(Delivery("", body, utc_now())).envelopes
    assert (envelope.key, envelope.feed) == ("1822555", "incidents")
    assert normalize("statscore", "incidents", envelope.payload, envelope.params)
    [bad] = IncidentHandler().handle(Delivery("q", b"not json", utc_now())).envelopes
    assert bad.payload == "not json"  # published anyway, so the dead-letter topic says why


async def test_incidents_pushed_through_rabbitmq(rabbitmq_url):
    """The simulator pushes to a per-client queue; the consumer turns each message into an incidents record."""
    sim = Simulator(World(matches=6, seed=random.randrange(1 << 30)))
    queue = f"statscore.test.{random.randrange(1 << 30)}"
    port = int(rabbitmq_url.rsplit(":", 1)[1].strip("/"))
    publisher, monitor = MemoryPublisher(), HealthMonitor()
    async with serve(sim) as (base_url, _app), httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/_sim/statscore/amqp", json={"url": rabbitmq_url, "queue": queue})
        assert response.status_code == 200
        endpoint = AmqpEndpoint(host="127.0.0.1", port=port, tls=False, username="guest",
                                password=SecretStr("guest"), queue=queue, queue_passive=True)
        consumer = AmqpConsumer("statscore", "incidents", endpoint, IncidentHandler(), publisher=publisher,
                                monitor=monitor, expected_beat_s=1.0, idle_beats=True)
        async with running(consumer.run):
            await eventually(lambda: monitor.status("statscore", "incidents") == "up", message="connected")
            sim.world.tick(3)
            await eventually(lambda: len(publisher.envelopes) >= 2, message="incident messages")
    for envelope in publisher.envelopes:
        [event] = normalize("statscore", "incidents", envelope.payload, envelope.params)
        assert event.provider_event_id == envelope.key
