"""API-Sports connector: three hosts, errors with HTTP 200, paging, F1 results, against mocks and the simulator."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.apisports import HOSTS, ApiSports
from connectors.errors import ProviderError, QuotaExhaustedError
from connectors.publisher import MemoryPublisher
from connectors.simulator.apisports import entity_id
from connectors.simulator.server import Simulator
from connectors.simulator.world import World, spelled
from runtime.settings import ProviderSettings
from schemas.canonical import Status
from schemas.providers import normalize
from tests.connectors.test_poller import START, make_poller, serve

KEY = "apisports-secret-key-42"


def settings(base_url: str | None = None, key: str = KEY, **params: str) -> ProviderSettings:
    return ProviderSettings(base_url=base_url, api_key=SecretStr(key), params={"football": "date", **params})


def feed_named(provider: ApiSports, name: str, config: ProviderSettings):
    return next(f for f in provider.feeds(config) if f.name.startswith(name))


def envelope(get: str, items: list, errors=None, current: int = 1, total: int = 1) -> dict:
    return {"get": get, "parameters": {}, "errors": errors or [], "results": len(items),
            "paging": {"current": current, "total": total}, "response": items}


def fixture_item(fixture_id: int, short: str = "1H", home: int = 1, away: int = 0) -> dict:
    status = {"short": short, "elapsed": 10}
    return {"fixture": {"id": fixture_id, "date": "2025-01-15T17:00:00+00:00", "status": status},
            "league": {"name": "Premier League", "country": "England"},
            "teams": {"home": {"id": 1, "name": "Arsenal"}, "away": {"id": 2, "name": "Chelsea"}},
            "goals": {"home": home, "away": away}}


def test_each_sport_has_its_own_base_url_with_real_defaults():
    """Real hosts by default; BASE_URL serves all three; a per-sport setting wins."""
    provider = ApiSports(clock=lambda: START)
    paths = {f.feed: f.path for f in provider.feeds(settings())}
    assert paths["football-fixtures"] == f"{HOSTS['football']}/fixtures"
    assert paths["basketball-games"] == "https://v1.basketball.api-sports.io/games"
    assert paths["formula1-races"] == "https://v1.formula-1.api-sports.io/races"
    sim = {f.feed: f.path for f in provider.feeds(settings("http://127.0.0.1:1", formula1_base_url="http://f1"))}
    assert sim["football-fixtures"] == "http://127.0.0.1:1/fixtures"
    assert sim["formula1-races"] == "http://f1/races"


@pytest.mark.parametrize(("errors", "kind", "retriable"), [
    ({"rateLimit": "Too many requests. Your rate limit is 10 requests per minute."}, ProviderError, True),
    ({"requests": "You have reached the request limit for the day"}, QuotaExhaustedError, True),
    ({"token": f"Error/Missing application key {KEY}"}, ProviderError, False),
    ({"plan": "Free plans do not have access to this season"}, ProviderError, False),
])
async def test_errors_returned_with_200_are_raised(errors, kind, retriable, caplog):
    """`errors` in a 200 body is a failure: retriable for limits, not for token or plan; the key never shows."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=envelope("fixtures", [], errors))

    provider = ApiSports(clock=lambda: START)
    config = settings()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    publisher = MemoryPublisher()
    poller = make_poller(provider, feed_named(provider, "football-fixtures", config), config, client, publisher)
    with pytest.raises(ProviderError) as raised:
        await poller.poll_once()
    assert type(raised.value) is kind
    assert raised.value.retriable is retriable
    with caplog.at_level("DEBUG"):
        await poller.step()
    assert publisher.envelopes == []
    assert seen[0].headers["x-apisports-key"] == KEY
    assert KEY not in str(raised.value) + caplog.text + str(seen[0].url)


async def test_pages_are_followed_and_quota_headers_read():
    """`paging.total` > 1 is followed with `page=`; daily and per-minute limits feed the budget."""
    pages = {"1": envelope("fixtures", [fixture_item(1), fixture_item(2)], current=1, total=2),
             "2": envelope("fixtures", [fixture_item(3, "FT", 2, 2)], current=2, total=2)}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"x-ratelimit-requests-remaining": "90", "x-ratelimit-requests-limit": "100",
                   "X-RateLimit-Remaining": "0" if request.url.params.get("page") == "2" else "5"}
        return httpx.Response(200, json=pages[request.url.params.get("page", "1")], headers=headers)

    provider = ApiSports(clock=lambda: START)
    config = settings()
    publisher = MemoryPublisher()
    poller = make_poller(provider, feed_named(provider, "football-fixtures", config), config,
                         httpx.AsyncClient(transport=httpx.MockTransport(handler)), publisher)
    result = await poller.poll_once()
    assert [r.url.params.get("page") for r in seen] == [None, "2"]
    assert seen[0].url.params["date"] == "2025-01-15"
    assert [e.key for e in publisher.envelopes] == ["football:1", "football:2", "football:3"]
    assert poller.state.budget.remaining == 90
    assert result.next_in_s >= 60  # the minute's requests are spent
    assert result.live
    scores = [normalize("apisports", e.feed, e.payload, e.normalizer_params())[0].score for e in publisher.envelopes]
    assert (scores[2].home, scores[2].away) == (2, 2)


async def test_simulator_football_and_basketball_match_the_world():
    """Fixtures (paged by the simulator) and games normalize into the world's teams and scores."""
    world = World(start=START, matches=26, live_ticks=10, sport_keys=("soccer_epl", "basketball_nba"))
    sim = Simulator(world)
    for _ in range(5):
        world.tick()
    provider = ApiSports(clock=lambda: world.now)
    publisher = MemoryPublisher()
    async with serve(sim) as url, httpx.AsyncClient() as client:
        config = settings(url, sim.key_for("apisports"), football="live,date")
        for feed in provider.feeds(config):
            if feed.feed != "formula1-races":
                await make_poller(provider, feed, config, client, publisher).poll_once()
    assert sim.requests["apisports"] == 3  # live=all, the day's fixtures (13 fit a page), the day's games
    events = {}
    for envelope in publisher.envelopes:
        for event in normalize("apisports", envelope.feed, envelope.payload, envelope.normalizer_params()):
            events[event.provider_event_id] = event
    for match in world.matches.values():
        sport = "football" if match.sport == "soccer" else "basketball"
        event = events[f"{sport}:{entity_id(match.id)}"]
        assert (event.home_team, event.away_team) == (spelled("apisports", match.home),
                                                      spelled("apisports", match.away))
        expected = (match.home_score, match.away_score) if match.started else (None, None)
        assert (event.score.home, event.score.away) == expected


async def test_simulator_pages_a_long_fixture_list():
    """More fixtures than a page: every one is published from one poll."""
    world = World(start=START, matches=25, sport_keys=("soccer_epl",))
    sim = Simulator(world)
    provider = ApiSports(clock=lambda: world.now)
    publisher = MemoryPublisher()
    async with serve(sim) as url, httpx.AsyncClient() as client:
        config = settings(url, sim.key_for("apisports"))
        await make_poller(provider, feed_named(provider, "football-fixtures:date", config), config, client,
                          publisher).poll_once()
    assert sim.requests["apisports"] == 2
    assert len(publisher.envelopes) == 25


async def test_simulator_formula1_results_follow_the_race():
    """Races, then `rankings/races` for the race in progress and once more when it is over."""
    world = World(start=START, matches=0, live_ticks=6, races=2)
    sim = Simulator(world)
    provider = ApiSports(clock=lambda: world.now)
    publisher = MemoryPublisher()
    async with serve(sim) as url, httpx.AsyncClient() as client:
        config = settings(url, sim.key_for("apisports"))
        poller = make_poller(provider, feed_named(provider, "formula1-races", config), config, client, publisher)
        world.tick()
        assert (await poller.poll_once()).live
        for _ in range(7):
            world.tick()
            await poller.poll_once()
        requests = sim.requests["apisports"]
        await poller.poll_once()  # the first race is over and its results were published: no follow-up
    assert sim.requests["apisports"] - requests == 2  # races, and the second race's live rankings
    race = next(iter(world.races.values()))
    latest = [e for e in publisher.envelopes if e.key == f"formula-1:{entity_id(race.id)}"][-1]
    assert latest.params["_race_status"] == "Completed"
    [result] = normalize("apisports", latest.feed, latest.payload, latest.normalizer_params())
    assert result.status == Status.FINAL
    assert result.name == race.name
    assert [e.competitor for e in result.results] == [d.name for _, d, _ in race.classification]


async def test_simulator_wrong_key_is_a_token_error_with_200():
    """As the real API does, a wrong key is answered with HTTP 200 and `errors.token`: not retriable."""
    sim = Simulator(World(start=START))
    provider = ApiSports(clock=lambda: START)
    async with serve(sim) as url, httpx.AsyncClient() as client:
        config = settings(url, "wrong-key")
        poller = make_poller(provider, feed_named(provider, "basketball-games", config), config, client)
        with pytest.raises(ProviderError) as refused:
            await poller.poll_once()
    assert refused.value.status == 200
    assert not refused.value.retriable
    assert "token" in refused.value.reason
