"""Jolpica connector: offset paging that rejoins cut races, pacing, against mocks and the simulator."""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.jolpica import HOURLY_LIMIT, Jolpica
from connectors.publisher import MemoryPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.world import World
from runtime.settings import ProviderSettings
from schemas.canonical import Status
from schemas.providers import normalize
from tests.conftest import fixture_path
from tests.connectors.test_poller import START, make_poller, serve


@pytest.fixture(autouse=True)
def no_page_pause(monkeypatch):
    monkeypatch.setattr(Jolpica, "page_interval_s", 0.0)


def feed_named(provider: Jolpica, name: str, config: ProviderSettings):
    return next(f for f in provider.feeds(config) if f.name == name)


async def test_a_race_cut_by_a_page_boundary_is_joined_again():
    """With total > offset + limit the next page is asked for by offset; the race comes out whole."""
    body = json.loads(fixture_path("jolpica", "results_2025_1.json").read_text())
    race = body["MRData"]["RaceTable"]["Races"][0]
    rows = race["Results"]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        offset, limit = int(request.url.params.get("offset", "0")), int(request.url.params["limit"])
        page = {**race, "Results": rows[offset: offset + limit]}
        mr = {**body["MRData"], "limit": str(limit), "offset": str(offset), "total": str(len(rows)),
              "RaceTable": {**body["MRData"]["RaceTable"], "Races": [page]}}
        return httpx.Response(200, json={"MRData": mr})

    provider = Jolpica()
    config = ProviderSettings(params={"seasons": "2025/1", "page_limit": "3"})
    publisher = MemoryPublisher()
    poller = make_poller(provider, feed_named(provider, "results:2025/1", config), config,
                         httpx.AsyncClient(base_url="http://j.test", transport=httpx.MockTransport(handler)), publisher)
    await poller.poll_once()
    expected_pages = -(-len(rows) // 3)
    assert [r.url.params.get("offset") for r in seen] == [None] + [str(3 * i) for i in range(1, expected_pages)]
    assert seen[0].url.path == "/ergast/f1/2025/1/results.json"
    [envelope] = publisher.envelopes
    assert envelope.key == "f1:2025:1"
    [result] = normalize("jolpica", "results", envelope.payload, envelope.normalizer_params())
    assert len(result.results) == len(rows)


def test_cadence_keeps_every_feed_within_the_hourly_limit():
    """However fast it is configured, the feeds together stay under 500 requests an hour."""
    provider = Jolpica()
    config = ProviderSettings(poll_live_s=1, poll_idle_s=1, params={"seasons": "2024,2025"})
    feeds = provider.feeds(config)
    per_hour = sum(3600 / provider.interval(f, config, live=False) for f in feeds)
    assert per_hour < HOURLY_LIMIT
    # The team lists (constructors, drivers) fit in the headroom and take no share from the results feeds.
    lists = sum(3600 / provider.interval(f, config, live=False) for f in provider.reference_feeds(config))
    assert per_hour + lists < HOURLY_LIMIT
    assert provider.interval(feeds[0], config, live=False) == len(feeds) * 3600 / 450


async def test_simulator_results_match_the_finished_races():
    """Season results, paged by the simulator, normalize into each finished race's classification."""
    world = World(start=START, matches=0, live_ticks=4, races=3)
    sim = Simulator(world)
    for _ in range(20):
        world.tick()
    provider = Jolpica()
    publisher = MemoryPublisher()
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        config = ProviderSettings(base_url=url, params={"seasons": str(START.year), "page_limit": "15"})
        for feed in provider.feeds(config):
            await make_poller(provider, feed, config, client, publisher).poll_once()
    assert sim.requests["jolpica"] == 1 + 2  # last race; the season's 30 rows in pages of 15
    results = {}
    for envelope in publisher.envelopes:
        for result in normalize("jolpica", "results", envelope.payload, envelope.normalizer_params()):
            results[result.provider_event_id] = result
    for race in world.races.values():
        result = results[f"f1:{race.season}:{race.round}"]
        assert result.status == Status.FINAL
        assert result.name == race.name
        assert [e.competitor for e in result.results] == [d.name for _, d, _ in race.classification]


async def test_simulator_has_no_results_before_the_flag():
    """A race still running is absent from results.json: nothing is published for it."""
    world = World(start=START, matches=0, live_ticks=10, races=1)
    sim = Simulator(world)
    world.tick()
    provider = Jolpica()
    publisher = MemoryPublisher()
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        config = ProviderSettings(base_url=url)
        result = await make_poller(provider, feed_named(provider, "results:last", config), config, client,
                                   publisher).poll_once()
    assert result.published == 0
    assert not result.live
