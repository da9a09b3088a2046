"""API-Sports normalizers: football fixtures, basketball games, formula-1 races and rankings."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.canonical import Event, RaceResult, Status
from schemas.errors import NormalizationError
from schemas.providers import normalize
from schemas.providers._apisports_status import BASKETBALL_STATUSES, FOOTBALL_STATUSES, FORMULA1_STATUSES, lookup

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apisports"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
FOOTBALL = "football_fixtures_live_all_2024-02-28.json"
FOOTBALL_EVENTS = "football_fixtures_live_all_with_events_2024-10-23.json"
BASKETBALL = "basketball_games_date_2024-10-23.json"
F1_RACES = "formula1_races_2021_bahrain.json"
F1_RANKINGS = "formula1_rankings_races_1273.json"
RANKING_PARAMS = {"_race_name": "Bahrain Grand Prix", "_race_start": "2021-03-28T16:00:00+00:00", "_season": "2021"}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def run(feed: str, payload: Any, params: dict[str, str] | None = None) -> list[Any]:
    return normalize("apisports", feed, payload, params or {})


def by_id(records: list[Any]) -> dict[str, Any]:
    return {r.provider_event_id: r for r in records}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def raises(feed: str, payload: Any, path: str, params: dict[str, str] | None = None) -> NormalizationError:
    with pytest.raises(NormalizationError) as info:
        run(feed, payload, params)
    assert (info.value.provider, info.value.feed, info.value.path) == ("apisports", feed, path)
    return info.value


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_every_sample_normalizes(entry):
    """Each manifest sample yields records that survive a wire round trip."""
    records = run(entry["feed"], load(entry["file"]), entry["params"])
    assert records
    for record in records:
        assert type(record).model_validate(record.to_wire()) == record


# --- football -----------------------------------------------------------------------------------


def test_football_fixtures_values():
    """Live fixtures: status codes, period, minute clock, int goals, UTC kick-off, league names."""
    events = by_id(run("football-fixtures", load(FOOTBALL)))
    first = events["football:1148845"]
    assert first.id == "apisports:football:1148845"
    assert (first.sport, first.league) == ("soccer", "CONCACAF Champions League")
    assert (first.home_team, first.away_team) == ("Philadelphia Union", "Deportivo Saprissa")
    assert (first.status, first.period, first.clock) == (Status.LIVE, "1H", "2'")
    assert (first.score.home, first.score.away) == (0, 0)
    assert first.start_time == utc(2024, 2, 28, 1, 15)
    half = events["football:1149591"]
    assert (half.status, half.period, half.clock) == (Status.HALFTIME, "HT", None)
    second = events["football:1167892"]
    assert (second.league, second.score.home, second.score.away) == ("Reserve League (Argentina)", 1, 1)


def test_football_stoppage_time_and_received_at():
    """`extra` minutes show as 45+1'; `_received_at` becomes the record timestamp."""
    params = {"_received_at": "2024-10-23T21:47:10Z"}
    events = by_id(run("football-fixtures", load(FOOTBALL_EVENTS), params))
    stoppage = events["football:1310721"]
    assert (stoppage.clock, stoppage.score.home, stoppage.score.away) == ("45+1'", 0, 1)
    assert stoppage.league == "Copa do Brasil U20 (Brazil)"
    assert stoppage.timestamp == utc(2024, 10, 23, 21, 47, 10)


def test_missed_penalty_is_not_a_goal():
    """The sample's missed penalty leaves 0-0; counted from events it still is no goal."""
    payload = load(FOOTBALL_EVENTS)
    assert by_id(run("football-fixtures", payload))["football:1246576"].score.model_dump() == {"home": 0, "away": 0}
    fixture = copy.deepcopy(payload["response"][2])
    assert any(e["detail"] == "Missed Penalty" for e in fixture["events"])
    fixture["goals"] = {"home": None, "away": None}
    (event,) = run("football-fixtures", fixture)
    assert (event.score.home, event.score.away) == (0, 0)
    goal = {**fixture["events"][0], "type": "Goal", "detail": "Normal Goal"}  # ADT, the home side
    shootout = {**fixture["events"][2], "detail": "Penalty", "comments": "Penalty Shootout"}
    own_goal = {**fixture["events"][2], "detail": "Own Goal"}  # the team it counts for: Union Comercio
    fixture["events"] += [goal, shootout, own_goal]
    (event,) = run("football-fixtures", fixture)
    assert (event.score.home, event.score.away) == (1, 1)


def test_goal_event_for_a_third_team_is_rejected():
    """A goal event naming neither team cannot be scored."""
    fixture = copy.deepcopy(load(FOOTBALL_EVENTS)["response"][1])
    fixture["goals"] = {"home": None, "away": None}
    fixture["events"][0]["team"]["id"] = 999
    raises("football-fixtures", [fixture], "$[0].events[0].team.id")


@pytest.mark.parametrize(
    "errors",
    [
        {"requests": "You have reached the request limit for the day, Go to https://dashboard.api-football.com"},
        {"token": "Error/Missing application key. Go to https://www.api-football.com/documentation-v3"},
        {"rateLimit": "Too many requests. Your rate limit is 10 requests per minute."},
        {"season": "The Season field is required."},
    ],
)
def test_http_200_errors_raise(errors):
    """`errors` filled with HTTP 200 and an empty response is a NormalizationError naming the key."""
    body = {"get": "fixtures", "parameters": {"live": "all"}, "errors": errors, "results": 0,
            "paging": {"current": 1, "total": 1}, "response": []}
    key = next(iter(errors))
    error = raises("football-fixtures", body, f"$.errors.{key}")
    assert errors[key] in error.reason
    raises("basketball-games", {**body, "get": "games"}, f"$.errors.{key}")
    raises("formula1-races", {**body, "get": "races"}, f"$.errors.{key}")


def test_errors_as_a_list_raise():
    """Some error bodies carry a non-empty list instead of an object."""
    raises("football-fixtures", {"errors": ["bad parameter"], "response": []}, "$.errors[0]")


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda f: f.pop("teams"), "$.response[0].teams"),
        (lambda f: f["goals"].update(home=-1), "$.response[0].goals.home"),
        (lambda f: f["fixture"]["status"].update(short="XX"), "$.response[0].fixture.status.short"),
        (lambda f: f["fixture"].update(date="soon"), "$.response[0].fixture.date"),
        (lambda f: f["teams"]["away"].pop("name"), "$.response[0].teams.away.name"),
    ],
)
def test_malformed_fixture_is_located(mutate, path):
    """Missing or invalid fixture fields raise NormalizationError naming the field."""
    body = load(FOOTBALL)
    mutate(body["response"][0])
    raises("football-fixtures", body, path)


def test_truncated_or_wrong_bodies():
    """A body cut before `response`, or not JSON object/array, is rejected."""
    raises("football-fixtures", {"get": "fixtures", "parameters": {"live": "all"}, "errors": []}, "$.response")
    raises("football-fixtures", "<html>Bad gateway</html>", "$")
    raises("football-fixtures", {"get": "fixtures", "errors": [], "response": {"oops": 1}}, "$.response")


def test_bare_fixture_item_is_accepted():
    """A connector may publish one `response[]` item; paths then start at `$`."""
    item = load(FOOTBALL)["response"][0]
    (event,) = run("football-fixtures", item)
    assert event.provider_event_id == "football:1148845"


@given(code=st.sampled_from(sorted(FOOTBALL_STATUSES)))
def test_every_football_status_maps(code):
    """Every short code in the table gives its canonical status through the normalizer."""
    fixture = copy.deepcopy(load(FOOTBALL)["response"][0])
    fixture["fixture"]["status"]["short"] = code
    (event,) = run("football-fixtures", [fixture])
    assert event.status == FOOTBALL_STATUSES[code]


# --- basketball ---------------------------------------------------------------------------------


def test_basketball_games_values():
    """Games of a date: finished, live Q3 with timer, halftime, not started (null scores), cancelled."""
    games = by_id(run("basketball-games", load(BASKETBALL)))
    final = games["basketball:425176"]
    assert (final.sport, final.league) == ("basketball", "Liga A (Argentina)")
    assert (final.home_team, final.away_team, final.score.home, final.score.away) == (
        "Union De Santa Fe", "Platense", 103, 96)
    assert (final.status, final.start_time) == (Status.FINAL, utc(2024, 10, 23, 0, 0))
    live = games["basketball:401803"]
    assert (live.status, live.period, live.clock, live.league) == (Status.LIVE, "Q3", "4", "Champions League (Europe)")
    assert games["basketball:421506"].status == Status.HALFTIME
    not_started = games["basketball:423067"]
    assert (not_started.status, not_started.score.home, not_started.score.away) == (Status.SCHEDULED, None, None)
    assert not_started.start_time == utc(2024, 10, 23, 16, 0)
    assert games["basketball:409173"].status == Status.CANCELLED


def test_malformed_basketball_game_is_located():
    """Negative totals and unknown status codes are located."""
    body = load(BASKETBALL)
    body["response"][1]["scores"]["home"]["total"] = -5
    raises("basketball-games", body, "$.response[1].scores.home.total")
    body = load(BASKETBALL)
    body["response"][4]["status"]["short"] = "Q9"
    raises("basketball-games", body, "$.response[4].status.short")


@given(code=st.sampled_from(sorted(BASKETBALL_STATUSES)))
def test_every_basketball_status_maps(code):
    """Every basketball short code maps through the normalizer."""
    game = copy.deepcopy(load(BASKETBALL)["response"][0])
    game["status"]["short"] = code
    (event,) = run("basketball-games", [game])
    assert event.status == BASKETBALL_STATUSES[code]


# --- status tables ------------------------------------------------------------------------------

TABLES = {"football": FOOTBALL_STATUSES, "basketball": BASKETBALL_STATUSES, "formula1": FORMULA1_STATUSES}


@given(data=st.data(), name=st.sampled_from(sorted(TABLES)))
def test_status_tables_are_total_and_strict(data, name):
    """Known codes map (surrounding spaces ignored); any other code raises NormalizationError."""
    table = TABLES[name]
    code = data.draw(st.sampled_from(sorted(table)))
    assert lookup(table, f" {code} ", "apisports", name, "$.status") == table[code]
    unknown = data.draw(st.text(max_size=12).filter(lambda s: s.strip() not in table))
    with pytest.raises(NormalizationError) as info:
        lookup(table, unknown, "apisports", name, "$.status")
    assert (info.value.provider, info.value.feed, info.value.path) == ("apisports", name, "$.status")


def test_football_short_codes_table_is_complete():
    """The table covers exactly the documented api-football short codes."""
    documented = ["NS", "1H", "HT", "2H", "ET", "BT", "P", "SUSP", "INT", "FT", "AET", "PEN", "PST", "CANC",
                  "ABD", "AWD", "WO", "LIVE", "TBD"]
    assert sorted(FOOTBALL_STATUSES) == sorted(documented)


# --- formula 1 ----------------------------------------------------------------------------------


def test_f1_races_keep_races_only():
    """/races: the race session becomes a result record without entries; practice is skipped."""
    (race,) = run("formula1-races", load(F1_RACES))
    assert isinstance(race, RaceResult)
    assert (race.id, race.series, race.season, race.name) == (
        "apisports:formula-1:1273", "Formula 1", "2021", "Bahrain Grand Prix")
    assert (race.status, race.start_time, race.results, race.round) == (Status.FINAL, utc(2021, 3, 28, 16), [], None)


def test_f1_sprint_and_unknown_status():
    """A sprint is named as such; an unknown race status is located."""
    body = load(F1_RACES)
    body["response"][0].update(type="Sprint", status="Live")
    (sprint, *_) = run("formula1-races", body)
    assert (sprint.name, sprint.status) == ("Bahrain Grand Prix (Sprint)", Status.LIVE)
    body["response"][0]["status"] = "Red Flag"
    raises("formula1-races", body, "$.response[0].status")


def test_f1_rankings_results():
    """/rankings/races: positions, drivers, teams, winner time, gaps, laps; DNF unclassified."""
    (race,) = run("formula1-races", load(F1_RANKINGS), RANKING_PARAMS)
    assert (race.id, race.name, race.season, race.status) == (
        "apisports:formula-1:1273", "Bahrain Grand Prix", "2021", Status.FINAL)
    assert race.start_time == utc(2021, 3, 28, 16)
    winner, second, *_, dnf = race.results
    assert (winner.position, winner.competitor, winner.team, winner.time, winner.gap, winner.laps) == (
        1, "Lewis Hamilton", "Mercedes-AMG Petronas", "1:32:03.897", None, 56)
    assert (second.position, second.competitor, second.team, second.time, second.gap) == (
        2, "Max Verstappen", "Red Bull Racing", None, "+0.745")
    assert (dnf.position, dnf.competitor, dnf.status, dnf.laps, dnf.time) == (None, "Nikita Mazepin", "DNF", 0, None)
    assert [r.position for r in race.results[:5]] == [1, 2, 3, 4, 5]


def test_f1_rankings_need_race_metadata():
    """Rankings carry no race name/date/season: without the params they cannot become a record."""
    raises("formula1-races", load(F1_RANKINGS), "params")
    raises("formula1-races", load(F1_RANKINGS), "params._race_start", {**RANKING_PARAMS, "_race_start": "Sunday"})
    raises("formula1-races", load(F1_RANKINGS), "params._race_status", {**RANKING_PARAMS, "_race_status": "Boxed"})


def test_f1_unknown_endpoint_and_bad_ranking():
    """Another endpoint's body, or a ranking without its driver, is rejected with a path."""
    raises("formula1-races", {**load(F1_RACES), "get": "pitstops"}, "$.get")
    body = load(F1_RANKINGS)
    del body["response"][3]["driver"]
    raises("formula1-races", body, "$.response[3].driver", RANKING_PARAMS)


def test_f1_bare_items_dispatch_by_shape():
    """Without the envelope, ranking items (they name a driver) and race items are told apart."""
    (race,) = run("formula1-races", load(F1_RANKINGS)["response"], RANKING_PARAMS)
    assert len(race.results) == 6
    (session,) = run("formula1-races", load(F1_RACES)["response"])
    assert session.results == []


@given(code=st.sampled_from(sorted(FORMULA1_STATUSES)))
def test_every_f1_status_maps(code):
    """Every api-formula-1 race status maps through the normalizer."""
    body = load(F1_RACES)
    body["response"][0]["status"] = code
    (race,) = run("formula1-races", body)
    assert race.status == FORMULA1_STATUSES[code]


def test_events_are_events():
    """Football and basketball feeds only produce events."""
    assert all(isinstance(r, Event) for r in run("football-fixtures", load(FOOTBALL)))
    assert all(isinstance(r, Event) for r in run("basketball-games", load(BASKETBALL)))
