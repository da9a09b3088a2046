"""The Odds API normalizers: recorded payloads in, canonical records out (no Kafka, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.canonical import Event, Odds, Status
from schemas.errors import NormalizationError
from schemas.providers import normalize
from tests.conftest import fixture_path


def load(name: str):
    return json.loads(fixture_path("theoddsapi", name).read_text())


def test_decimal_odds_become_one_record_per_bookmaker_market_and_the_event():
    """EPL h2h in decimal: an Event per game and an Odds record per bookmaker market, sides by team name."""
    payload = load("odds_soccer_epl_h2h_decimal_2024-08-19.json")
    records = normalize("theoddsapi", "odds", payload, {"oddsFormat": "decimal"})
    events = [r for r in records if isinstance(r, Event)]
    odds = [r for r in records if isinstance(r, Odds)]
    assert len(events) == len(payload)
    first = events[0]
    assert (first.home_team, first.away_team, first.league) == ("Leicester City", "Tottenham Hotspur", "EPL")
    assert first.start_time == datetime(2024, 8, 19, 19, 0, tzinfo=UTC)
    assert first.status == Status.SCHEDULED  # no receive time: the kick-off has not been seen
    betway = next(o for o in odds if o.provider_event_id == "36808dc52374b40df08cab6b1d5664d1")
    assert betway.bookmaker == "betway"
    prices = {o.side: o.price for o in betway.outcomes}
    assert prices == {"home": 5.0, "away": 1.6, "draw": 4.2}
    assert sum(len(b["markets"]) for game in payload for b in game["bookmakers"]) == len(odds)


def test_american_prices_are_converted_to_decimal():
    """oddsFormat=american: -110 is 1.909..., +150 is 2.5; the request's format decides, not the payload."""
    payload = load("odds_basketball_nba_h2h_spreads_totals_american_2022-11-23.json")
    params = {"oddsFormat": "american", "_received_at": "2022-11-23T01:06:00.000Z"}
    odds = [r for r in normalize("theoddsapi", "odds", payload, params) if isinstance(r, Odds)]
    raw_prices = [o["price"] for g in payload for b in g["bookmakers"] for m in b["markets"] for o in m["outcomes"]]
    converted = [o.price for r in odds for o in r.outcomes]
    assert len(raw_prices) == len(converted)
    for american, decimal in zip(raw_prices, converted, strict=True):
        expected = 1 + american / 100 if american > 0 else 1 + 100 / -american
        assert decimal == pytest.approx(expected, rel=1e-9)


def test_in_play_follows_the_receive_time():
    """An /odds event whose commence_time passed before the response was received is live."""
    payload = load("odds_basketball_nba_h2h_spreads_totals_american_2022-11-23.json")
    params = {"oddsFormat": "american", "_received_at": "2022-11-23T01:06:00.000Z"}
    received = datetime(2022, 11, 23, 1, 6, tzinfo=UTC)
    for event in (r for r in normalize("theoddsapi", "odds", payload, params) if isinstance(r, Event)):
        assert (event.status == Status.LIVE) == (event.start_time <= received)


def test_scores_match_teams_by_name_and_completed_is_final():
    payload = load("scores_basketball_nba_daysFrom1_docs.json")
    events = normalize("theoddsapi", "scores", payload, {"daysFrom": "1"})
    assert len(events) == len(payload)
    by_id = {e.provider_event_id: e for e in events if isinstance(e, Event)}
    kings = by_id["572d984e132eddaac3da93e5db332e7e"]
    assert (kings.score.home, kings.score.away, kings.status) == (113, 103, Status.FINAL)
    clippers = by_id["4b25562aa9e87b57aa16f970abaec8cc"]
    assert (clippers.score.home, clippers.score.away, clippers.status) == (40, 37, Status.LIVE)
    for raw in payload:
        if raw["scores"] is None and not raw["completed"]:
            assert by_id[raw["id"]].score.home is None


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda g: g["scores"][0].update(name="Somebody Else"), "unknown team"),
    (lambda g: g["scores"][0].update(score="12a"), "not a non-negative integer"),
    (lambda g: g.pop("home_team"), "home_team"),
])
def test_broken_scores_are_refused_with_a_located_reason(mutate, reason):
    payload = load("scores_basketball_nba_daysFrom1_docs.json")[:1]
    mutate(payload[0])
    with pytest.raises(NormalizationError) as error:
        normalize("theoddsapi", "scores", payload, {})
    assert reason in str(error.value)
    assert "$[0]" in str(error.value)


def test_an_outcome_naming_neither_team_is_refused():
    payload = load("odds_soccer_epl_h2h_decimal_2024-08-19.json")[:1]
    payload[0]["bookmakers"][0]["markets"][0]["outcomes"][0]["name"] = "Leicester"
    with pytest.raises(NormalizationError, match="matches neither team"):
        normalize("theoddsapi", "odds", payload, {"oddsFormat": "decimal"})
