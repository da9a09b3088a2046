"""Providers' team lists -> reference.teams -> the worker's team registry -> one id per game.

A Welsh club as three providers write it: The Odds API "Cardiff City", API-Sports "Cardiff", Sportradar its
Welsh name "Dinas Caerdydd" in its fixtures (names alone cannot meet it: no word in common, not even the
route's anchor). Sportradar's own competitor list gives both names for its team. With the three providers'
team lists fetched through the real connectors and pollers, all three providers' updates land on one
canonical id on canonical.events, which carries the registry's team (id, short name, abbreviation).
Without them (another game, its names never listed), the Welsh name stays a fixture of its own and is on
canonical.unmatched, while the listed game's first sighting is not reported there (its names are known:
nothing is in doubt).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest

from agents.reference import ReferenceTeams, follow
from agents.stages import teams
from agents.stages.resolve import team_key
from connectors.apisports import ApiSports
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import KafkaPublisher
from connectors.reference import ReferencePublisher
from connectors.simulator import world as sim_world
from connectors.simulator.apisports import entity_id
from connectors.simulator.server import Simulator
from connectors.simulator.sportradar import key_of
from connectors.simulator.world import World, code_of
from connectors.sportradar import CONNECTOR as SPORTRADAR
from connectors.theoddsapi import CONNECTOR as ODDS_API
from pipeline.provision import ensure_topics
from runtime.kafka import client_options
from runtime.settings import ProviderSettings
from schemas import topics
from schemas.reference import TeamReference
from tests.conftest import ROOT, TIME_UNIT, published_by
from tests.connectors.amqp_support import serve

pytestmark = pytest.mark.integration


def _pollers(provider, settings: ProviderSettings, client, publisher, keep):
    state = ProviderState()
    feeds = [*provider.feeds(settings), *provider.reference_feeds(settings)]
    return [FeedPoller(provider, f, settings=settings, client=client, publisher=publisher, state=state)
            for f in feeds if keep(f)]


async def collect_until(consumer, predicate, done, timeout: float = 120.0) -> list:
    """Read records that satisfy `predicate` until `done(found)` (or fail after `timeout`)."""
    found: list = []
    deadline = time.monotonic() + timeout * TIME_UNIT
    while not done([orjson.loads(m.value) for m in found]):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out; read {[orjson.loads(m.value) for m in found]}")
        batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
        for messages in batches.values():
            found.extend(m for m in messages if predicate(m))
    return found


async def _registry_updated(app_id: str, after: int, timeout: float = 60.0) -> None:
    """The worker logged a registry rebuild after byte `after` of its log (it read our lists)."""
    log = ROOT / ".stack" / "logs" / f"test-worker-{app_id}.log"
    deadline = time.monotonic() + timeout * TIME_UNIT
    while time.monotonic() < deadline:
        if "team registry:" in log.read_bytes()[after:].decode(errors="replace"):
            await asyncio.sleep(1.0)  # a second list may come in the next batch
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the worker did not rebuild its team registry")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("lists", ["first", "late"])
async def test_a_local_language_name_meets_its_club_through_the_providers_team_lists(
        stack, worker, consumer_factory, unique, monkeypatch, lists):
    """`late`: the worker has routed the three providers' updates before the lists come (the Welsh name on a
    fixture of its own); the lists must change where the next updates go, not only the first ones."""
    await ensure_topics(stack, [topics.REFERENCE_TEAMS])
    # Provider ids come from the seed: each variant its own games (the worker and its tables are shared).
    world = World(seed=41 if lists == "first" else 42, matches=2, sport_keys=("soccer_epl",))
    listed_game, unlisted_game = world.matches.values()
    # Unique per run: the compacted topic keeps earlier runs' lists, which must not decide this one.
    listed_game.home, listed_game.away = f"Cardiff City {unique}", f"Arsenal {unique}"
    unlisted_game.home, unlisted_game.away = f"Swansea City {unique}", f"Chelsea {unique}"
    monkeypatch.setitem(sim_world.SPELLINGS, "sportradar", {
        **sim_world.SPELLINGS["sportradar"], "Cardiff City": "Dinas Caerdydd", "Swansea City": "Dinas Abertawe"})
    monkeypatch.setitem(sim_world.SPELLINGS, "apisports", {
        **sim_world.SPELLINGS["apisports"], "Cardiff City": "Cardiff", "Swansea City": "Swansea"})
    monkeypatch.setitem(sim_world.LISTED, "sportradar",
                        {listed_game.home: (listed_game.home, f"Dinas Caerdydd {unique}")})
    for _ in range(12):
        world.tick(3.0)
    assert all(m.status == "live" for m in world.matches.values())
    # The list covers the league's teams and the game's: the unlisted game's teams are made absent from it.
    monkeypatch.setattr(World, "teams", lambda self, key: [listed_game.home, listed_game.away])
    sim = Simulator(world)
    events = await consumer_factory(topics.EVENTS)
    unmatched = await consumer_factory(topics.UNMATCHED)
    log = ROOT / ".stack" / "logs" / f"test-worker-{worker}.log"

    async with serve(sim) as (base_url, _app), KafkaPublisher(client_options(stack)) as publisher, \
            httpx.AsyncClient(base_url=base_url) as client:
        def settings(provider: str, **params: str) -> ProviderSettings:
            return ProviderSettings(base_url=base_url, api_key=sim.key_for(provider), params=params)

        odds_settings = settings("theoddsapi", sports="soccer_epl")
        radar_settings = settings("sportradar", soccer_schedule="live", soccer_seasons="sr:season:118689",
                                  nba_teams="off")
        reference = ReferencePublisher(publisher)
        apisports, apisports_settings = ApiSports(clock=lambda: world.now), settings("apisports", football="live")
        team_lists = [*_pollers(ODDS_API, odds_settings, client, reference, lambda f: f.feed == "teams"),
                 *_pollers(SPORTRADAR, radar_settings, client, reference, lambda f: f.feed == "teams"),
                 *_pollers(apisports, apisports_settings, client, reference, lambda f: f.name == "teams:football:39")]
        odds_api = _pollers(ODDS_API, odds_settings, client, publisher, lambda f: f.feed == "scores")
        radar = _pollers(SPORTRADAR, radar_settings, client, publisher, lambda f: f.feed == "soccer-schedule")
        api_sports = _pollers(apisports, apisports_settings, client, publisher,
                              lambda f: f.feed == "football-fixtures")
        assert len(team_lists) == 3

        def mine(message) -> bool:
            return published_by(message, worker) and unique in orjson.loads(message.value).get("homeTeam", "")

        def refs_of(game) -> set[str]:
            return {game.id, key_of(game), f"football:{entity_id(game.id)}"}

        if lists == "late":
            for poller in (*odds_api, *radar, *api_sports):
                await poller.poll_once()
            early = [orjson.loads(m.value) for m in await collect_until(events, mine, lambda found: any(
                e["refs"] == {"sportradar": key_of(listed_game)} for e in found))]
            assert not [e for e in early if len(e["refs"]) == 3], "before the lists the Welsh name is apart"
            for _ in range(3):
                world.tick(3.0)  # news for the next polls
        before = log.stat().st_size
        for poller in team_lists:
            assert (await poller.poll_once()).published == 1
        await _registry_updated(worker, before)
        for poller in (*odds_api, *radar, *api_sports):
            await poller.poll_once()

        seen = [orjson.loads(m.value) for m in await collect_until(events, mine, lambda found: (
            any(set(e["refs"].values()) == refs_of(listed_game) for e in found)
            and len({e["id"] for e in found if set(e["refs"].values()) & refs_of(unlisted_game)}) >= 2))]
        [joined] = [e for e in seen if set(e["refs"].values()) == refs_of(listed_game)][:1]
        assert joined["refs"] == {"theoddsapi": listed_game.id, "sportradar": key_of(listed_game),
                                  "apisports": f"football:{entity_id(listed_game.id)}"}
        # Canonical names are the registry's: the full name most providers give ("Arsenal" twice, "Arsenal FC"
        # once; "Cardiff City" twice, "Cardiff" once).
        assert joined["homeTeam"] == listed_game.home
        assert joined["awayTeam"] == joined["awayTeamInfo"]["name"] == listed_game.away
        assert joined["providerNames"]["sportradar"]["homeTeam"] == f"Dinas Caerdydd {unique}"
        assert joined["providerNames"]["apisports"]["homeTeam"] == f"Cardiff {unique}"
        assert joined["score"] == {"home": listed_game.home_score, "away": listed_game.away_score}
        info = joined["homeTeamInfo"]
        assert info["name"] == listed_game.home
        assert info["id"].startswith("team_")
        assert info["shortName"] == f"Dinas Caerdydd {unique}"
        assert info["abbreviation"] == code_of(listed_game.home)  # Sportradar's code (The Odds API has none)

        # The unlisted Welsh name has nothing to meet its club by: a fixture of its own, reported for review.
        # (The Odds API's "Swansea City" and API-Sports' "Swansea" meet by their names alone.)
        apart = [e for e in seen if set(e["refs"].values()) & refs_of(unlisted_game)]
        assert len({e["id"] for e in apart}) == 2, "without the team lists the Welsh name stays apart"
        assert {frozenset(e["refs"]) for e in apart if "sportradar" in e["refs"]} == {frozenset({"sportradar"})}
        if lists == "late":
            return  # the listed game's first sighting came before its names were known: reported, rightly

        def reviewed(message) -> bool:
            return published_by(message, worker) and unique in orjson.loads(message.value)["homeTeam"]

        # Review records are for doubt: the listed game (every name known from the lists) is not reported,
        # the unlisted Welsh name is, naming it. Records are read up to that one, after the others.
        reviews = [orjson.loads(m.value) for m in await collect_until(unmatched, reviewed, lambda found: any(
            r["homeTeam"] == f"Dinas Abertawe {unique}" for r in found))]
        review = next(r for r in reviews if r["homeTeam"] == f"Dinas Abertawe {unique}")
        assert review["provider"] == "sportradar"
        assert review["reason"] == "unmatched"
        assert f"Dinas Abertawe {unique}" in review["unknownTeams"]
        assert not [r for r in reviews if r["providerEventId"] in refs_of(listed_game)], \
            "a first sighting whose teams are known is not reported"


@pytest.mark.timeout(120)
async def test_a_starting_worker_has_the_team_lists_in_force_before_it_resolves(stack, unique) -> None:
    """What the worker awaits before its first resolve: the lists already on the topic, read and in force."""
    await ensure_topics(stack, [topics.REFERENCE_TEAMS])
    team = TeamReference(provider="sportradar", sport="soccer", team_id=f"sr:competitor:{unique}",
                         name=f"Cardiff City {unique}", short_name=f"Dinas Caerdydd {unique}")
    async with KafkaPublisher(client_options(stack)) as publisher:
        await publisher.send_records([(topics.REFERENCE_TEAMS, team.entity_key.encode(), team.to_json(), [])])
    follower, stop = ReferenceTeams(), asyncio.Event()
    task = asyncio.create_task(follow(stack, follower, stop))
    try:
        assert await follower.wait_loaded(60 * TIME_UNIT)
        assert team_key("soccer", f"Dinas Caerdydd {unique}") == team_key("soccer", f"Cardiff City {unique}")
    finally:
        stop.set()
        await task
        teams.reset()
