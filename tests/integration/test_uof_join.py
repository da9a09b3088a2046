"""UOF odds join the canonical event another provider reports: the fixture endpoint gives them teams,
sport and start time (simulator -> real connectors -> Kafka -> worker)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from connectors.amqp import Delivery
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import KafkaPublisher
from connectors.simulator.server import Simulator, build_app
from connectors.simulator.sportradar import match_number, odds_change_xml, routing_key
from connectors.simulator.world import World, own_teams
from connectors.sportradar import UofHandler
from connectors.theoddsapi import CONNECTOR as ODDS_API
from connectors.uof import FixtureCache
from runtime.kafka import client_options
from runtime.settings import ProviderSettings
from schemas import topics
from tests.conftest import collect, published_by

pytestmark = pytest.mark.integration


async def test_uof_odds_carry_the_canonical_event_id_of_the_same_match(stack, worker, consumer_factory, unique):
    world = World(seed=int(unique[:6], 16), matches=1, sport_keys=("soccer_epl",))
    match = next(iter(world.matches.values()))
    own_teams(world, unique)
    for _ in range(3):
        world.tick(3.0)
    sim = Simulator(world)
    runner = web.AppRunner(build_app(sim), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    events = await consumer_factory(topics.EVENTS)
    odds = await consumer_factory(topics.ODDS)
    urn = f"sr:match:{match_number(match)}"
    try:
        async with KafkaPublisher(client_options(stack)) as publisher, httpx.AsyncClient(base_url=base_url) as client:
            settings = ProviderSettings(base_url=base_url, api_key=SecretStr(sim.key_for("theoddsapi")),
                                        params={"sports": "soccer_epl"}, feeds=["scores"])
            (feed,) = ODDS_API.feeds(settings)
            await FeedPoller(ODDS_API, feed, settings=settings, client=client, publisher=publisher,
                             state=ProviderState()).poll_once()
            event = orjson.loads((await collect(events, lambda m: published_by(m, worker) and orjson.loads(
                m.value).get("refs", {}).get("theoddsapi") == match.id))[0].value)

            handler = UofHandler(fixtures=FixtureCache(client, lambda: {"x-access-token": "sim"}))
            delivery = Delivery(routing_key(match), odds_change_xml(match), datetime.now(UTC))
            envelopes = await handler.enrich(list(handler.handle(delivery).envelopes))
            await publisher.publish(envelopes)
            records = [orjson.loads(m.value) for m in await collect(
                odds, lambda m: published_by(m, worker) and orjson.loads(m.value).get("providerEventId") == urn,
                count=2)]
    finally:
        await runner.cleanup()
    assert {r["eventId"] for r in records} == {event["id"]}
    assert {(r["homeTeam"], r["awayTeam"], r["sport"]) for r in records} == {(match.home, match.away, "soccer")}
    assert {r["market"] for r in records} == {"moneyline", "total"}
