"""Simulator -> real connectors -> Kafka -> worker: resolution across providers, dedupe, failover."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import KafkaPublisher
from connectors.simulator.world import World, own_teams
from connectors.sportsdataio import CONNECTOR as SPORTSDATAIO
from connectors.theoddsapi import CONNECTOR as ODDS_API
from runtime.kafka import client_options
from runtime.settings import ProviderSettings
from schemas import topics
from schemas.canonical import FeedStatus
from schemas.timeutil import utc_now
from tests.conftest import collect, published_by
from tests.simulated import serving

pytestmark = pytest.mark.integration


@pytest.fixture
async def simulator():
    world = World(seed=11, matches=2, sport_keys=("basketball_nba",))
    async with serving(world) as served:
        yield served


def pollers(provider, settings: ProviderSettings, client, publisher, feed: str):
    state = ProviderState()
    return [FeedPoller(provider, f, settings=settings, client=client, publisher=publisher, state=state)
            for f in provider.feeds(settings) if f.feed == feed]


async def poll(all_pollers):
    for poller in all_pollers:
        await poller.poll_once()


async def test_two_providers_one_fixture_dedupe_and_failover(stack, worker, simulator, consumer_factory):
    """Both providers' views of a game share one canonical id; repeats add nothing; a down feed fails over."""
    sim, base_url = simulator
    for _ in range(12):
        sim.world.tick(3.0)  # the second game starts 30 s after the first: both are now live
    assert all(m.status == "live" for m in sim.world.matches.values())
    events = await consumer_factory(topics.EVENTS)
    odds_settings = ProviderSettings(base_url=base_url, api_key=sim.key_for("theoddsapi"),
                                     params={"sports": "basketball_nba"})
    sdio_settings = ProviderSettings(base_url=base_url, api_key=sim.key_for("sportsdataio"),
                                     params={"sports": "nba"})
    match_ids = set(sim.world.matches)
    async with KafkaPublisher(client_options(stack)) as publisher, httpx.AsyncClient(base_url=base_url) as client:
        odds_api = pollers(ODDS_API, odds_settings, client, publisher, "scores")
        sdio = pollers(SPORTSDATAIO, sdio_settings, client, publisher, "scores")
        await poll(odds_api)
        await poll(sdio)

        def mine(message) -> bool:
            record = orjson.loads(message.value)
            return published_by(message, worker) and record.get("refs", {}).get("theoddsapi") in match_ids

        first = [orjson.loads(m.value) for m in await collect(events, lambda m: mine(m) and "sportsdataio" in
                                                               orjson.loads(m.value).get("refs", {}), count=2)]
        # One canonical id per game, carrying both providers' ids; the better source is followed.
        assert len({e["id"] for e in first}) == 2
        for event in first:
            match = sim.world.matches[event["refs"]["theoddsapi"]]
            assert event["refs"]["sportsdataio"].startswith("nba:")
            assert event["score"] == {"home": match.home_score, "away": match.away_score}
            assert event["source"] == "sportsdataio/scores"

        # Repeats: the same responses polled again, and the same raw records re-published, add nothing.
        for poller in [*odds_api, *sdio]:
            poller.seen = type(poller.seen)()  # forget what was sent: the connector re-publishes everything
        await poll(odds_api)
        await poll(sdio)
        with pytest.raises(AssertionError, match="only 0 of 1"):
            await collect(events, mine, count=1, timeout=5)

        # Failover: SportsDataIO's scores feed is reported down; The Odds API's news is then published.
        down = FeedStatus(provider="sportsdataio", feed="scores:nba", status="down", reason="test outage",
                          timestamp=utc_now())
        up = FeedStatus(provider="sportsdataio", feed="scores:nba", status="up", timestamp=utc_now())
        await publish_status(stack, down)
        try:
            await asyncio.sleep(2)  # the worker follows canonical.feed_status
            sim.world.tick(3.0)
            sim.world.tick(3.0)
            await poll(odds_api)
            after = [orjson.loads(m.value) for m in await collect(
                events, lambda m: mine(m) and orjson.loads(m.value).get("source") == "theoddsapi/scores", count=1)]
            assert after[0]["id"] in {e["id"] for e in first}
            assert after[0]["seq"] > max(e["seq"] for e in first if e["id"] == after[0]["id"])
        finally:
            await publish_status(stack, up)


async def publish_status(settings, status: FeedStatus) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.FEED_STATUS, value=status.to_json(), key=status.entity_key.encode())
    finally:
        await producer.stop()


@pytest.mark.timeout(240)
async def test_a_simulator_update_reaches_dynamodb_s3_and_a_websocket_client(
    stack, worker, simulator, broadcaster_url, unique
):
    """One score change served by the simulator: stored in DynamoDB, archived in S3, pushed to a client."""
    from datetime import UTC, datetime, timedelta

    from websockets.asyncio.client import connect

    from runtime.aws import boto_client
    from sinks.archive.reader import iter_archive
    from sinks.archive.writer import run_archive
    from sinks.dynamodb import run_dynamodb_sink
    from sinks.websocket.auth import issue_token
    from tests.agents.sinks import eventually, running, sink_settings

    sim, base_url = simulator
    own_teams(sim.world, unique)  # this test's own teams: nothing else resolves onto them
    for _ in range(12):
        sim.world.tick(3.0)
    match = next(iter(sim.world.matches.values()))
    settings = sink_settings(stack, unique)
    settings = settings.model_copy(update={"archive": settings.archive.model_copy(update={"flush_interval_s": 0.5})})
    ddb, s3 = boto_client(settings, "dynamodb"), boto_client(settings, "s3")
    url, ws_settings = broadcaster_url
    sink = lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")  # noqa: E731
    archive = lambda stop, ready: run_archive(settings, stop, ready=ready, auto_offset_reset="latest")  # noqa: E731
    odds_settings = ProviderSettings(base_url=base_url, api_key=sim.key_for("theoddsapi"),
                                     params={"sports": "basketball_nba"})
    async with running(sink), running(archive), connect(f"{url}?token={issue_token(ws_settings, 'e2e')}") as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "subscriptions": ["live_scores"]}).decode())
        async with KafkaPublisher(client_options(stack)) as publisher, httpx.AsyncClient(base_url=base_url) as client:
            await poll(pollers(ODDS_API, odds_settings, client, publisher, "scores"))

        frame: dict = {}
        async with asyncio.timeout(60):
            while frame.get("providerEventId") != match.id or frame.get("type") != "event":
                frame = orjson.loads(await ws.recv())
        assert frame["channel"] == "live_scores"
        assert frame["score"] == {"home": match.home_score, "away": match.away_score}

        def state():
            return ddb.get_item(TableName=settings.aws.dynamodb_table,
                                Key={"pk": {"S": f"EVENT#{frame['id']}"}, "sk": {"S": "STATE"}}).get("Item")

        stored = await eventually(lambda: asyncio.to_thread(state), message="the event's state in DynamoDB")
        assert orjson.loads(stored["record"]["S"])["score"] == frame["score"]
        assert "expiresAt" not in stored or int(stored["expiresAt"]["N"]) > 0

        def archived():
            start, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=5)
            return [r for r in iter_archive(settings.aws.s3_bucket, topics.raw_topic("theoddsapi"), start, end,
                                            client=s3) if match.id in str(r.value)]

        raw = await eventually(lambda: asyncio.to_thread(archived), message="the raw record in S3")
        assert raw[0].value["provider"] == "theoddsapi"
