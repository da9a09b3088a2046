"""Simulator (each provider with its own spellings) -> real connectors -> Kafka -> worker.

Three providers report the same soccer matches, each spelling the teams its own way ("Arsenal FC",
"Tottenham", "Brighton & Hove Albion"), and two of the matches are the same teams meeting twice on
one day. Checked on canonical.events as a consumer sees it: one canonical id per simulated match,
canonical names whichever provider is followed, and a failover that keeps both.
"""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from connectors.apisports import ApiSports
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import KafkaPublisher
from connectors.simulator.world import World, spelled
from connectors.sportradar import CONNECTOR as SPORTRADAR
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
    world = World(seed=23, matches=3, sport_keys=("soccer_epl",))
    first, second, _ = world.matches.values()
    second.home, second.away = first.home, first.away  # the same teams again, 30 s later
    async with serving(world) as served:
        yield served


def pollers(provider, settings: ProviderSettings, client, publisher, keep=lambda feed: True):
    state = ProviderState()
    return [FeedPoller(provider, f, settings=settings, client=client, publisher=publisher, state=state)
            for f in provider.feeds(settings) if keep(f)]


async def poll(all_pollers):
    for poller in all_pollers:
        await poller.poll_once()


async def publish_status(settings, status: FeedStatus) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.FEED_STATUS, value=status.to_json(), key=status.entity_key.encode())
    finally:
        await producer.stop()


@pytest.mark.timeout(240)
async def test_providers_spelling_teams_their_own_way_meet_in_one_id_per_match(
        stack, worker, simulator, consumer_factory):
    sim, base_url = simulator
    world = sim.world
    for _ in range(24):
        world.tick(3.0)  # every match is live
    assert all(m.status == "live" for m in world.matches.values())
    spellings = {(spelled(p, m.home), spelled(p, m.away)) for m in world.matches.values()
                 for p in ("apisports", "sportradar")}
    assert spellings - {(m.home, m.away) for m in world.matches.values()}, "the providers spell some teams apart"
    events = await consumer_factory(topics.EVENTS)

    def settings(provider: str, **params: str) -> ProviderSettings:
        return ProviderSettings(base_url=base_url, api_key=sim.key_for(provider), params=params)

    apisports = ApiSports(clock=lambda: world.now)
    async with KafkaPublisher(client_options(stack)) as publisher, httpx.AsyncClient(base_url=base_url) as client:
        odds_api = pollers(ODDS_API, settings("theoddsapi", sports="soccer_epl"), client, publisher,
                           lambda f: f.feed == "scores")
        api_sports = pollers(apisports, settings("apisports", football="live", football_base_url=base_url),
                             client, publisher, lambda f: f.feed == "football-fixtures")
        radar = pollers(SPORTRADAR, settings("sportradar", soccer_schedule="live"), client, publisher,
                        lambda f: f.feed == "soccer-schedule")
        await poll(odds_api)
        await poll(api_sports)
        await poll(radar)

        def mine(message) -> bool:
            return published_by(message, worker) and orjson.loads(message.value).get("refs", {}).get(
                "theoddsapi") in world.matches

        def complete(message) -> bool:
            return mine(message) and {"apisports", "sportradar"} <= set(orjson.loads(message.value)["refs"])

        seen = [orjson.loads(m.value) for m in await collect(events, complete, count=len(world.matches), timeout=60)]
        by_match = {e["refs"]["theoddsapi"]: e for e in seen}
        assert set(by_match) == set(world.matches)
        assert len({e["id"] for e in seen}) == len(world.matches), "one canonical id per simulated match"
        for match_id, event in by_match.items():
            match = world.matches[match_id]
            assert (event["homeTeam"], event["awayTeam"]) == (match.home, match.away)
            assert event["score"] == {"home": match.home_score, "away": match.away_score}
            assert event["providerNames"]["sportradar"]["homeTeam"] == spelled("sportradar", match.home)

        # Failover: Sportradar's feed goes down; API-Sports' news is published under the same id and names.
        feed = radar[0].feed.name
        await publish_status(stack, FeedStatus(provider="sportradar", feed=feed, status="down", reason="test",
                                               timestamp=utc_now()))
        try:
            await asyncio.sleep(2)  # the worker follows canonical.feed_status
            for _ in range(3):
                world.tick(3.0)
            await poll(api_sports)
            after = [orjson.loads(m.value) for m in await collect(
                events, lambda m: mine(m) and orjson.loads(m.value)["source"].startswith("apisports"),
                count=1, timeout=60)]
            failed_over = after[0]
            before = by_match[failed_over["refs"]["theoddsapi"]]
            assert failed_over["id"] == before["id"]
            assert failed_over["seq"] > before["seq"]
            assert (failed_over["homeTeam"], failed_over["awayTeam"]) == (before["homeTeam"], before["awayTeam"])
        finally:
            await publish_status(stack, FeedStatus(provider="sportradar", feed=feed, status="up",
                                                   timestamp=utc_now()))


@pytest.mark.timeout(240)
async def test_providers_disagreeing_on_a_score_make_a_discrepancy_record(stack, worker, simulator, consumer_factory):
    """The Odds API stops at one score while API-Sports reports another for longer than the grace period."""
    sim, base_url = simulator
    world = sim.world
    for _ in range(24):
        world.tick(3.0)
    discrepancies = await consumer_factory(topics.DISCREPANCIES)
    apisports = ApiSports(clock=lambda: world.now)

    def settings(provider: str, **params: str) -> ProviderSettings:
        return ProviderSettings(base_url=base_url, api_key=sim.key_for(provider), params=params)

    async with KafkaPublisher(client_options(stack)) as publisher, httpx.AsyncClient(base_url=base_url) as client:
        odds_api = pollers(ODDS_API, settings("theoddsapi", sports="soccer_epl"), client, publisher,
                           lambda f: f.feed == "scores")
        api_sports = pollers(apisports, settings("apisports", football="live", football_base_url=base_url),
                             client, publisher, lambda f: f.feed == "football-fixtures")
        await poll(odds_api)
        await poll(api_sports)
        match = next(iter(world.matches.values()))
        odds_score = (match.home_score, match.away_score)
        match.home_score += 1  # from here on only API-Sports is polled: it reports the goal, The Odds API does not
        await poll(api_sports)
        await asyncio.sleep(16)  # past processing.discrepancy_grace_s (15 s, by receipt time)
        match.away_score += 1
        await poll(api_sports)

        def mine(message) -> bool:
            record = orjson.loads(message.value)
            return published_by(message, worker) and record["field"] == "score" and record["state"] == "open"

        found = [orjson.loads(m.value) for m in await collect(discrepancies, mine, count=1, timeout=60)]
        record = found[0]
        assert record["values"]["theoddsapi"] == {"home": odds_score[0], "away": odds_score[1]}
        assert record["values"]["apisports"] == {"home": match.home_score, "away": match.away_score}
        assert (record["homeTeam"], record["awayTeam"]) == (match.home, match.away)
