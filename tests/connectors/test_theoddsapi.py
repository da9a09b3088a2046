"""The Odds API connector: paths, auth, one raw record per event, quota headers (MockTransport, no network)."""

from __future__ import annotations

import json

import httpx

from connectors.publisher import MemoryPublisher
from connectors.theoddsapi import TheOddsApi
from runtime.settings import ProviderSettings
from schemas.canonical import Event
from schemas.providers import normalize
from tests.conftest import fixture_path
from tests.connectors.test_poller import make_poller

ODDS = json.loads(fixture_path("theoddsapi", "odds_soccer_epl_h2h_decimal_2024-08-19.json").read_text())


def test_feeds_per_sport_with_the_documented_paths_and_params():
    """Each configured sport gets an odds and a scores feed; odds params follow the settings."""
    config = ProviderSettings(params={"sports": "soccer_epl,basketball_nba", "regions": "uk", "markets": "h2h"})
    feeds = {f.name: f for f in TheOddsApi().feeds(config)}
    assert set(feeds) == {"odds:soccer_epl", "scores:soccer_epl", "odds:basketball_nba", "scores:basketball_nba"}
    odds = feeds["odds:soccer_epl"]
    assert odds.path == "/v4/sports/soccer_epl/odds"
    assert odds.params == {"regions": "uk", "markets": "h2h", "oddsFormat": "decimal"}
    assert feeds["scores:basketball_nba"].path == "/v4/sports/basketball_nba/scores"
    only_scores = TheOddsApi().feeds(ProviderSettings(feeds=["scores"], params={"sports": "soccer_epl"}))
    assert [f.name for f in only_scores] == ["scores:soccer_epl"]


async def test_a_response_becomes_one_raw_record_per_event_keyed_by_its_id():
    """The key travels as the apiKey query parameter; each event is its own record and normalizes alone."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ODDS, headers={"x-requests-remaining": "4999", "x-requests-used": "1"})

    provider = TheOddsApi()
    config = ProviderSettings(api_key="k-123", params={"sports": "soccer_epl"}, feeds=["odds"])
    [feed] = provider.feeds(config)
    publisher = MemoryPublisher()
    client = httpx.AsyncClient(base_url="http://odds.test", transport=httpx.MockTransport(handler))
    async with client:
        await make_poller(provider, feed, config, client, publisher).poll_once()
    [request] = seen
    assert request.url.path == "/v4/sports/soccer_epl/odds"
    assert request.url.params["apiKey"] == "k-123"
    assert [e.key for e in publisher.envelopes] == [game["id"] for game in ODDS]
    for envelope in publisher.envelopes:
        assert "apiKey" not in envelope.params  # credentials never reach Kafka
        records = normalize("theoddsapi", "odds", envelope.payload, envelope.normalizer_params())
        [event] = [r for r in records if isinstance(r, Event)]
        assert event.provider_event_id == envelope.key


def test_quota_headers_are_read_and_bad_ones_ignored():
    provider = TheOddsApi()
    quota = provider.quota(httpx.Headers({"x-requests-remaining": "4999", "x-requests-used": "1.0"}))
    assert (quota.remaining, quota.used) == (4999, 1)
    broken = provider.quota(httpx.Headers({"x-requests-remaining": "lots"}))
    assert (broken.remaining, broken.used) == (None, None)


def test_a_non_list_answer_is_passed_on_whole_for_the_normalizer_to_refuse():
    provider = TheOddsApi()
    [feed] = provider.feeds(ProviderSettings(feeds=["scores"], params={"sports": "soccer_epl"}))
    assert provider.split(feed, {"message": "quota exceeded"}) == [(feed.name, {"message": "quota exceeded"})]
