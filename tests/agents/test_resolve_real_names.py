"""Real fixtures as providers really spell them resolve to one id each; look-alikes never merge.

Spellings follow each provider's conventions: API-Sports uses local names ("Bayern München"),
The Odds API English ones ("Bayern Munich") with league titles like "Bundesliga - Germany",
Sportradar prefixes ("FC Bayern Munich"), STATSCORE transliterates ("Bayern Munchen"),
SportsDataIO uses abbreviations for US leagues ("LAL") and short club names ("Man Utd").
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from agents.stages.process import resolve_record
from agents.stages.resolve import Fixture, route_key

TOL = 2 * 3600 * 1000
DAY = datetime(2024, 11, 30, tzinfo=UTC)


def record(provider: str, pid: str, sport: str, league: str, home: str, away: str, start: datetime) -> dict:
    return {"type": "event", "provider": provider, "providerEventId": pid, "sport": sport, "league": league,
            "homeTeam": home, "awayTeam": away, "startTime": start.isoformat().replace("+00:00", "Z"),
            "score": {"home": 1, "away": 0}}


def at(hour: float, minutes: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minutes)


# fixture label -> that fixture as each provider reports it
FIXTURES: dict[str, list[dict]] = {
    "bayern-dortmund": [
        record("apisports", "1208100", "soccer", "Bundesliga", "Bayern München", "Borussia Dortmund", at(17, 30)),
        record("theoddsapi", "e1f0", "soccer", "Bundesliga - Germany", "Bayern Munich", "Borussia Dortmund",
               at(17, 30)),
        record("sportradar", "sr:match:50851", "soccer", "Bundesliga", "FC Bayern Munich", "Dortmund",
               at(17, 30)),
        record("statscore", "5550001", "soccer", "1. Bundesliga", "Bayern Munchen", "BV Borussia 09 Dortmund",
               at(17, 30)),
    ],
    "atletico-real": [
        record("apisports", "1208200", "soccer", "La Liga", "Atletico Madrid", "Real Madrid", at(20)),
        record("theoddsapi", "a7c1", "soccer", "La Liga - Spain", "Atlético Madrid", "Real Madrid", at(20)),
        record("sportradar", "sr:match:50852", "soccer", "LaLiga", "Atletico de Madrid", "Real Madrid CF", at(20)),
        # STATSCORE lists this one the other way round
        record("statscore", "5550002", "soccer", "Primera Division", "Real Madrid", "Club Atlético de Madrid",
               at(20)),
    ],
    "manchester-derby": [
        record("apisports", "1208300", "soccer", "Premier League", "Manchester United", "Manchester City",
               at(16, 30)),
        record("theoddsapi", "b3d4", "soccer", "EPL", "Manchester United", "Manchester City", at(16, 30)),
        record("sportsdataio", "71001", "soccer", "Premier League", "Man Utd", "Man City", at(16, 30)),
        record("statscore", "5550003", "soccer", "Premier League", "Manchester Utd", "Manchester City FC",
               at(16, 30)),
    ],
    "inter-milan": [
        record("apisports", "1208400", "soccer", "Serie A", "Inter", "AC Milan", at(19, 45)),
        record("theoddsapi", "c9e2", "soccer", "Serie A - Italy", "Inter Milan", "AC Milan", at(19, 45)),
        record("sportradar", "sr:match:50854", "soccer", "Serie A", "FC Internazionale Milano", "AC Milan",
               at(19, 45)),
    ],
    "lakers-clippers": [
        record("sportsdataio", "21600", "basketball", "NBA", "LAL", "LAC", at(3, 30)),
        record("theoddsapi", "d1a5", "basketball", "NBA", "Los Angeles Lakers", "Los Angeles Clippers", at(3, 30)),
        record("apisports", "414100", "basketball", "NBA", "Los Angeles Lakers", "LA Clippers", at(3, 30)),
        record("sportradar", "sr:match:50855", "basketball", "NBA", "Los Angeles Lakers", "LA Clippers",
               at(3, 30)),
    ],
    # Look-alikes on the same day: each is its own fixture.
    "united-women": [
        record("apisports", "1208500", "soccer", "WSL", "Manchester United W", "Manchester City W", at(12, 30)),
        record("theoddsapi", "b3d5", "soccer", "Women's Super League", "Manchester United Women",
               "Manchester City Women", at(12, 30)),
    ],
    "castilla-barca-b": [
        record("apisports", "1208600", "soccer", "Primera RFEF", "Real Madrid II", "Barcelona B", at(18)),
        record("statscore", "5550006", "soccer", "Primera RFEF", "Real Madrid Castilla", "FC Barcelona B",
               at(18)),
    ],
    "real-sociedad": [
        record("apisports", "1208700", "soccer", "La Liga", "Real Sociedad", "Atletico Madrid", at(20)),
        record("theoddsapi", "a7c9", "soccer", "La Liga - Spain", "Real Sociedad", "Atlético Madrid", at(20)),
    ],
    "inter-miami": [
        record("apisports", "1208800", "soccer", "Major League Soccer", "Inter Miami", "AC Milan", at(19, 45)),
        record("theoddsapi", "c9e9", "soccer", "MLS", "Inter Miami CF", "AC Milan", at(19, 45)),
    ],
    "lakers-clippers-g2": [  # the same teams meet again on the same day (a second game)
        record("sportsdataio", "21601", "basketball", "NBA", "LAL", "LAC", at(7, 30)),
        record("theoddsapi", "d1a6", "basketball", "NBA", "Los Angeles Lakers", "Los Angeles Clippers", at(7, 30)),
    ],
}


def resolve_all(records: list[dict]) -> tuple[dict[str, list[Fixture]], list[dict]]:
    routes: dict[str, list[Fixture]] = {}
    reviews = []
    for rec in records:
        route = route_key(rec)
        resolution = resolve_record(rec, route, routes.setdefault(route, []), TOL)
        assert resolution is not None
        if resolution.review:
            reviews.append(resolution.review)
    return routes, reviews


@pytest.mark.parametrize("order", ["as listed", "reversed", "interleaved"])
def test_one_id_per_real_fixture_and_look_alikes_apart(order: str) -> None:
    labelled = [(label, copy.deepcopy(r)) for label, recs in FIXTURES.items() for r in recs]
    if order == "reversed":
        labelled.reverse()
    elif order == "interleaved":
        labelled = labelled[::2] + labelled[1::2]
    resolve_all([r for _, r in labelled])
    ids: dict[str, set[str]] = {}
    for label, rec in labelled:
        ids.setdefault(label, set()).add(rec["id"])
    assert all(len(found) == 1 for found in ids.values()), ids
    distinct = {next(iter(found)) for found in ids.values()}
    assert len(distinct) == len(FIXTURES), ids


def test_published_names_are_canonical_whoever_reports() -> None:
    records = [copy.deepcopy(r) for r in FIXTURES["atletico-real"]]
    resolve_all(records)
    assert {(r["homeTeam"], r["awayTeam"], r["league"]) for r in records} == {
        ("Atlético Madrid", "Real Madrid", "La Liga")}
    swapped = records[3]
    assert swapped["score"] == {"home": 0, "away": 1}, "STATSCORE's home score is the fixture's away score"
    assert swapped["providerNames"]["statscore"] == {
        "homeTeam": "Club Atlético de Madrid", "awayTeam": "Real Madrid", "league": "Primera Division"}
    assert set(swapped["refs"]) == {"apisports", "theoddsapi", "sportradar", "statscore"}


def test_known_abbreviations_get_the_full_name() -> None:
    records = [copy.deepcopy(r) for r in FIXTURES["lakers-clippers"]]
    resolve_all(records)
    assert {(r["homeTeam"], r["awayTeam"]) for r in records} == {("Los Angeles Lakers", "Los Angeles Clippers")}


def test_look_alikes_are_reported_for_review_with_their_scores() -> None:
    miami = record("statscore", "5550008", "soccer", "MLS", "Inter Miami", "AC Milan", at(19, 45))
    _, reviews = resolve_all([copy.deepcopy(r) for r in FIXTURES["inter-milan"]] + [miami])
    assert reviews[-1]["reason"] == "below_threshold"
    assert reviews[-1]["homeTeam"] == "Inter Miami"
    assert 0.1 <= reviews[-1]["candidates"][0]["confidence"] < 0.75
    assert miami["id"] != reviews[-1]["candidates"][0]["id"]


LOOK_ALIKES = [
    (("Manchester United", "Manchester City", "Premier League"), ("Manchester United W", "Manchester City W", "WSL")),
    (("Chelsea", "Arsenal", "Premier League"), ("Chelsea FC Women", "Arsenal Women", "Premier League")),
    (("Arsenal", "Tottenham Hotspur", "Premier League"), ("Arsenal U21", "Tottenham U21", "Premier League 2")),
    (("Real Madrid", "Barcelona", "La Liga"), ("Real Madrid Castilla", "Barcelona B", "La Liga")),
    (("Real Madrid", "Atletico Madrid", "La Liga"), ("Real Sociedad", "Atletico Madrid", "La Liga")),
    (("Manchester United", "Liverpool", "Premier League"), ("Manchester City", "Liverpool", "Premier League")),
    (("Inter", "Juventus", "Serie A"), ("Inter Miami", "Juventus", "MLS")),
    (("Los Angeles Lakers", "Boston Celtics", "NBA"), ("Los Angeles Clippers", "Boston Celtics", "NBA")),
    (("New York Giants", "Dallas Cowboys", "NFL"), ("New York Jets", "Dallas Cowboys", "NFL")),
]


@pytest.mark.parametrize(("real", "look_alike"), LOOK_ALIKES, ids=lambda t: f"{t[0]}|{t[1]}")
def test_a_look_alike_from_another_provider_at_the_same_time_never_merges(real, look_alike) -> None:
    """The look-alike comes from a provider the real fixture does not hold yet: only the names keep them apart."""
    sport = "basketball" if real[2] == "NBA" else "americanfootball" if real[2] == "NFL" else "soccer"
    first = record("apisports", "1", sport, real[2], real[0], real[1], at(15))
    other = record("theoddsapi", "x", sport, look_alike[2], look_alike[0], look_alike[1], at(15))
    resolve_all([first, other])
    assert first["id"] != other["id"]
    assert (other["homeTeam"], other["awayTeam"]) != (first["homeTeam"], first["awayTeam"])


def test_a_real_fixture_from_another_provider_at_the_same_time_does_merge() -> None:
    """The counterpart of the look-alike test: the same check merges the same fixture spelled differently."""
    first = record("apisports", "1", "soccer", "Premier League", "Manchester United", "Manchester City", at(15))
    other = record("theoddsapi", "x", "soccer", "EPL", "Man Utd", "Man City", at(15))
    resolve_all([first, other])
    assert first["id"] == other["id"]
