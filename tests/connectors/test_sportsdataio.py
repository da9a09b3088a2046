"""SportsDataIO connector: dated paths, header auth, one record per game, against mocks and the simulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors.errors import ProviderError, QuotaExhaustedError
from connectors.publisher import MemoryPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.sportsdataio import TEAM_KEYS, game_id
from connectors.simulator.world import World
from connectors.sportsdataio import SportsDataIO
from runtime.settings import ProviderSettings
from schemas.canonical import Status
from schemas.providers import normalize
from tests.conftest import fixture_path
from tests.connectors.test_poller import START, make_poller, serve

KEY = "sdio-secret-key-123"


def settings(base_url: str = "http://sdio.test", key: str = KEY, **params: str) -> ProviderSettings:
    return ProviderSettings(base_url=base_url, api_key=SecretStr(key), params={"sports": "nba,nfl", **params})


def feed_named(provider: SportsDataIO, name: str, config: ProviderSettings | None = None):
    return next(f for f in provider.feeds(config or settings()) if f.name == name)


def mock_client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://sdio.test", transport=httpx.MockTransport(handler))


async def test_dated_path_header_auth_and_one_record_per_game():
    """The Eastern date is in the path, the key only in the header, and each game is its own record."""
    games = json.loads(fixture_path("sportsdataio", "mlb_games_by_date_2017-JUL-31.json").read_text())
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=games, headers={"Cache-Control": "max-age=30"})

    provider = SportsDataIO(clock=lambda: START)
    config = settings(sports="mlb")
    publisher = MemoryPublisher()
    poller = make_poller(provider, feed_named(provider, "scores:mlb", config), config, mock_client(handler), publisher)
    result = await poller.poll_once()
    assert seen[0].url.path == "/v3/mlb/scores/json/GamesByDate/2025-JAN-15"
    assert seen[0].headers["Ocp-Apim-Subscription-Key"] == KEY
    assert KEY not in str(seen[0].url)
    assert [e.key for e in publisher.envelopes] == [f"mlb:{g['GameID']}" for g in games]
    assert result.next_in_s >= 30  # Cache-Control: max-age is honoured
    for envelope in publisher.envelopes:
        [event] = normalize("sportsdataio", envelope.feed, envelope.payload, envelope.normalizer_params())
        assert event.provider_event_id == envelope.key
    assert not result.live  # the sample's game says InProgress but also IsClosed: it is over


async def test_after_midnight_eastern_the_previous_day_is_asked_for_too():
    """At 01:00 Eastern both days are polled, so a late game's final score still arrives."""
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        game_id = 1 if "JAN-15" in request.url.path else 2
        return httpx.Response(200, json=[{"GameID": game_id, "Status": "Final", "DateTime": "2025-01-15T22:00:00",
                                          "HomeTeam": "BOS", "AwayTeam": "MIA"}])

    provider = SportsDataIO(clock=lambda: datetime(2025, 1, 16, 6, 0, tzinfo=UTC))
    publisher = MemoryPublisher()
    poller = make_poller(provider, feed_named(provider, "scores:nba"), settings(), mock_client(handler), publisher)
    await poller.poll_once()
    assert paths == ["/v3/nba/scores/json/GamesByDate/2025-JAN-15", "/v3/nba/scores/json/GamesByDate/2025-JAN-16"]
    assert sorted(e.key for e in publisher.envelopes) == ["nba:1", "nba:2"]


async def test_refused_key_and_spent_quota_never_leak_the_key(caplog):
    """401 is a non-retriable error, 403 'Out of call volume quota' a quota error; the key is in neither."""
    answers = [
        httpx.Response(401, json={"statusCode": 401, "message": "Access denied due to invalid subscription key."}),
        httpx.Response(403, json={"statusCode": 403, "message": "Out of call volume quota."}),
        httpx.Response(401, json={"statusCode": 401, "message": "Access denied due to invalid subscription key."}),
    ]
    provider = SportsDataIO(clock=lambda: START)
    client = mock_client(lambda request: answers.pop(0))
    poller = make_poller(provider, feed_named(provider, "scores:nba"), settings(), client)
    with caplog.at_level("DEBUG"):
        with pytest.raises(ProviderError) as refused:
            await poller.poll_once()
        assert refused.value.status == 401
        assert not refused.value.retriable
        with pytest.raises(QuotaExhaustedError) as spent:
            await poller.poll_once()
        await poller.step()  # logs the failure
    assert KEY not in str(refused.value) + str(spent.value) + caplog.text


async def test_simulator_scores_odds_and_soccer_match_the_world():
    """Every feed against the simulator normalizes into the world's teams, scores and statuses."""
    world = World(start=START, matches=6, live_ticks=10)
    sim = Simulator(world)
    for _ in range(4):
        world.tick()
    provider = SportsDataIO(clock=lambda: world.now)
    publisher = MemoryPublisher()
    async with serve(sim) as url:
        config = settings(url, sim.key_for("sportsdataio"))
        async with httpx.AsyncClient(base_url=url) as client:
            for feed in provider.feeds(config):
                await make_poller(provider, feed, config, client, publisher).poll_once()
    events = {}
    odds = []
    for envelope in publisher.envelopes:
        for record in normalize("sportsdataio", envelope.feed, envelope.payload, envelope.normalizer_params()):
            (odds if hasattr(record, "bookmaker") else []).append(record)
            if not hasattr(record, "bookmaker"):
                events[(envelope.feed, record.provider_event_id)] = record
    statuses = {"scheduled": Status.SCHEDULED, "live": Status.LIVE, "final": Status.FINAL}
    for match in world.matches.values():
        soccer = match.sport == "soccer"
        sport = "soccer" if soccer else {"basketball": "nba", "americanfootball": "nfl"}[match.sport]
        event = events[("soccer-scores" if soccer else "scores", f"{sport}:{game_id(match)}")]
        home, away = (match.home, match.away) if soccer else (TEAM_KEYS[match.home], TEAM_KEYS[match.away])
        assert (event.home_team, event.away_team) == (home, away)
        expected = (match.home_score, match.away_score) if match.started else (None, None)
        assert (event.score.home, event.score.away) == expected
        assert event.status == statuses[match.status]
        assert event.start_time == match.commence
    assert {o.bookmaker for o in odds} == {"fanduel", "draftkings", "betmgm"}


async def test_simulator_refuses_a_wrong_key():
    """The simulator answers a wrong key with 401, which the connector reports as not retriable."""
    sim = Simulator(World(start=START))
    provider = SportsDataIO(clock=lambda: START)
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        config = settings(url, "wrong")
        with pytest.raises(ProviderError) as refused:
            await make_poller(provider, feed_named(provider, "scores:nba", config), config, client).poll_once()
    assert refused.value.status == 401
    assert not refused.value.retriable
