"""SportsDataIO normalizers: scores (NFL/NBA/MLB/NHL), odds, soccer scores."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.canonical import Event, Odds, Status
from schemas.errors import NormalizationError
from schemas.providers import normalize
from schemas.providers.sportsdataio import GAME_STATUSES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sportsdataio"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def events(feed: str, payload: Any, **params: str) -> list[Event]:
    records = normalize("sportsdataio", feed, payload, params)
    return [r for r in records if isinstance(r, Event)]


def odds(payload: Any, **params: str) -> list[Odds]:
    return [r for r in normalize("sportsdataio", "odds", payload, params) if isinstance(r, Odds)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def raises(feed: str, payload: Any, path: str, **params: str) -> NormalizationError:
    with pytest.raises(NormalizationError) as info:
        normalize("sportsdataio", feed, payload, params)
    assert (info.value.provider, info.value.feed, info.value.path) == ("sportsdataio", feed, path)
    return info.value


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_every_sample_normalizes(entry):
    """Each manifest sample yields records that survive a wire round trip."""
    records = normalize("sportsdataio", entry["feed"], load(entry["file"]), entry["params"])
    assert records
    for record in records:
        assert type(record).model_validate(record.to_wire()) == record


# --- scores -------------------------------------------------------------------------------------


def test_nfl_scores_values_and_summer_time():
    """NFL Score objects: ScoreID ids, team keys, int scores, EDT wall time -> UTC."""
    first, second = events("scores", load("nfl_scores_2021PRE.json"), sport="nfl")
    assert first.id == "sportsdataio:nfl:17660"
    assert first.provider_event_id == "nfl:17660"
    assert (first.sport, first.league) == ("americanfootball", "NFL")
    assert (first.home_team, first.away_team) == ("PIT", "DAL")
    assert (first.score.home, first.score.away) == (16, 3)
    assert first.status == Status.FINAL
    assert first.start_time == utc(2021, 8, 6, 0, 0)  # 20:00 EDT (UTC-4)
    assert first.timestamp == utc(2021, 8, 10, 23, 45, 27)  # LastUpdated, Eastern
    assert (first.period, first.clock) == ("F", None)
    assert (second.home_team, second.away_team, second.score.home, second.score.away) == ("NE", "WAS", 22, 13)
    assert second.start_time == utc(2021, 8, 12, 23, 30)


def test_eastern_standard_time_in_winter():
    """A December kick-off is EST (UTC-5), not EDT."""
    game = load("nfl_scores_2021PRE.json")[0]
    game["DateTime"] = "2021-12-05T13:00:00"
    (event,) = events("scores", [game], sport="nfl")
    assert event.start_time == utc(2021, 12, 5, 18, 0)


def test_datetime_utc_wins_over_eastern_wall_time():
    """ScoresBasic carries DateTimeUTC; it is used as is, and DateTime gives the same instant."""
    item = load("mlb_scores_basic_item_inprogress_2025.json")[0]
    (with_utc,) = events("scores", [item], sport="mlb")
    del item["DateTimeUTC"]
    (from_eastern,) = events("scores", [item], sport="mlb")
    assert with_utc.start_time == from_eastern.start_time == utc(2025, 9, 4, 20, 10)
    item["DateTimeUTC"] = "2025-09-04T20:15:00"
    (overridden,) = events("scores", [item], sport="mlb")
    assert overridden.start_time == utc(2025, 9, 4, 20, 15)


def test_mlb_games_trust_closed_flag():
    """MLB GamesByDate: `InProgress` with `IsClosed: true` is final; runs are the score."""
    in_progress_closed, final = events("scores", load("mlb_games_by_date_2017-JUL-31.json"), sport="mlb")
    assert in_progress_closed.id == "sportsdataio:mlb:49127"
    assert in_progress_closed.status == Status.FINAL
    assert (in_progress_closed.home_team, in_progress_closed.away_team) == ("PHI", "ATL")
    assert (in_progress_closed.score.home, in_progress_closed.score.away) == (7, 6)
    assert in_progress_closed.start_time == utc(2017, 7, 31, 16, 35)
    assert (final.status, final.score.home, final.score.away, final.period) == (Status.FINAL, 2, 1, "Bottom 9")
    assert final.timestamp == utc(2021, 9, 21, 17, 35, 44)


def test_mlb_scores_basic_live():
    """ScoresBasic in progress: live, inning as period, UpdatedUtc absent so Updated (Eastern)."""
    (event,) = events("scores", load("mlb_scores_basic_item_inprogress_2025.json"), sport="mlb")
    assert (event.status, event.period, event.score.home, event.score.away) == (Status.LIVE, "Bottom 4", 0, 0)
    assert (event.home_team, event.away_team) == ("MIL", "PHI")
    assert event.timestamp == event.source_timestamp == utc(2025, 9, 4, 21, 19, 20)


def test_field_names_match_case_insensitively():
    """`GameId`/`hometeam`/`DATETIME` read the same as `GameID`/`HomeTeam`/`DateTime`."""
    game = load("mlb_games_by_date_2017-JUL-31.json")[1]
    recased = {("GameId" if k == "GameID" else k.lower() if k.startswith("Home") else k.upper()): v
               for k, v in game.items()}
    assert events("scores", [recased], sport="mlb") == events("scores", [game], sport="mlb")


def test_single_object_payload():
    """A one-game endpoint returns an object, not an array; errors are located at `$`."""
    game = load("nfl_scores_2021PRE.json")[0]
    (event,) = events("scores", game, sport="nfl")
    assert event.provider_event_id == "nfl:17660"
    game["HomeScore"] = -1
    raises("scores", game, "$.HomeScore", sport="nfl")


def nba_game(**overrides: Any) -> dict[str, Any]:
    game = {"GameID": 21000, "Status": "InProgress", "DateTime": "2024-01-15T19:30:00", "HomeTeam": "BOS",
            "AwayTeam": "LAL", "HomeTeamScore": 55, "AwayTeamScore": 50, "Quarter": "2",
            "TimeRemainingMinutes": 3, "TimeRemainingSeconds": 7}
    return {**game, **overrides}


def test_nba_quarter_clock_and_halftime():
    """NBA: HomeTeamScore, quarter and mm:ss clock; `Quarter: "Half"` while in progress is halftime."""
    (live,) = events("scores", [nba_game()], sport="nba")
    assert (live.sport, live.league, live.status, live.period, live.clock) == ("basketball", "NBA", "live", "2", "3:07")
    assert (live.score.home, live.score.away) == (55, 50)
    assert live.start_time == utc(2024, 1, 16, 0, 30)
    (half,) = events("scores", [nba_game(Quarter="Half", TimeRemainingMinutes=None)], sport="nba")
    assert (half.status, half.clock) == (Status.HALFTIME, None)


def test_nhl_period_and_scheduled_scores_are_null():
    """NHL: Period/clock; a scheduled game has both scores null even if the feed sends zeros."""
    (live,) = events("scores", [nba_game(Period="2", Quarter=None, TimeRemainingMinutes=12)], sport="nhl")
    assert (live.sport, live.period, live.clock) == ("icehockey", "2", "12:07")
    (scheduled,) = events("scores", [nba_game(Status="Scheduled", HomeTeamScore=0, AwayTeamScore=0)], sport="nhl")
    assert (scheduled.score.home, scheduled.score.away, scheduled.period) == (None, None, None)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda g: g.pop("HomeTeam"), "$[0].HomeTeam"),
        (lambda g: g.update(HomeScore=-3), "$[0].HomeScore"),
        (lambda g: g.update(AwayScore="three"), "$[0].AwayScore"),
        (lambda g: g.update(Status="Exploded"), "$[0].Status"),
        (lambda g: [g.pop(k) for k in ("DateTime", "Date", "Day")], "$[0].DateTime"),
        (lambda g: [g.pop(k) for k in ("ScoreID", "GameKey")], "$[0].GameID"),
        (lambda g: g.update(DateTime="next tuesday"), "$[0].DateTime"),
    ],
)
def test_malformed_game_is_located(mutate, path):
    """Missing or invalid fields raise NormalizationError naming the field."""
    game = load("nfl_scores_2021PRE.json")[0]
    mutate(game)
    raises("scores", [game], path, sport="nfl")


def test_truncated_payload():
    """An object cut off after a few keys fails on a required field it lost."""
    game = load("nfl_scores_2021PRE.json")[0]
    truncated = dict(list(game.items())[:6])  # ends after "AwayTeam": no Status, no HomeTeam
    error = raises("scores", [truncated], "$[0].Status", sport="nfl")
    assert error.reason == "Field required"


@pytest.mark.parametrize("payload", ["<html>", 42, None])
def test_payload_of_wrong_type(payload):
    """A body that is neither an array nor an object is rejected at `$`."""
    raises("scores", payload, "$", sport="nfl")


@pytest.mark.parametrize("params", [{}, {"sport": "cricket"}])
def test_sport_param_is_required(params):
    """Without a known `sport` the game ids would be ambiguous."""
    raises("scores", load("nfl_scores_2021PRE.json"), "params.sport", **params)


@given(code=st.sampled_from(sorted(GAME_STATUSES)), upper=st.booleans())
def test_every_known_status_maps(code, upper):
    """Every status in the table maps, whatever its casing."""
    game = nba_game(Status=code.upper() if upper else code, Quarter="3", IsClosed=False)
    (event,) = events("scores", [game], sport="nba")
    assert event.status == GAME_STATUSES[code]


@given(code=st.text(min_size=1, max_size=20).filter(lambda s: s.strip().lower() not in GAME_STATUSES))
def test_unknown_status_raises(code):
    """A status outside the table is a located NormalizationError, never a guess."""
    raises("scores", [nba_game(Status=code)], "$[0].Status", sport="nba")


# --- odds ---------------------------------------------------------------------------------------


def test_odds_sample_american_to_decimal():
    """GameOdds: the event, then moneyline/spread/total per book; scrambled books keyed by id."""
    payload = load("nfl_game_odds_by_date_item_trial_scrambled.json")
    records = normalize("sportsdataio", "odds", payload, {"sport": "nfl"})
    event = records[0]
    assert isinstance(event, Event)
    assert (event.id, event.home_team, event.away_team, event.status) == (
        "sportsdataio:nfl:18776", "PIT", "NYG", Status.SCHEDULED)
    assert (event.score.home, event.score.away) == (None, None)
    assert event.start_time == utc(2024, 10, 29, 0, 15)  # 20:15 EDT
    lines = {(o.bookmaker, o.market): o for o in records[1:] if isinstance(o, Odds)}
    assert sorted(lines) == [(b, m) for b in ("sportsbook-7", "sportsbook-8") for m in ("moneyline", "spread", "total")]
    ml = {o.side: o.price for o in lines["sportsbook-7", "moneyline"].outcomes}
    assert ml == {"home": pytest.approx(1 + 100 / 386), "away": pytest.approx(4.14)}
    spread = {o.side: (o.price, o.point) for o in lines["sportsbook-7", "spread"].outcomes}
    assert spread == {"home": (pytest.approx(1.625), -8.6), "away": (pytest.approx(1 + 100 / 154), 12.3)}
    total = {o.side: (o.price, o.point) for o in lines["sportsbook-8", "total"].outcomes}
    assert total == {"over": (pytest.approx(1.625), 52.2), "under": (pytest.approx(1 + 100 / 154), 52.2)}
    first = lines["sportsbook-7", "moneyline"]
    assert first.event_id == event.id
    assert first.timestamp == first.source_timestamp == utc(2024, 10, 28, 19, 54, 55)
    assert not first.suspended


def line(book: str, odd_type: str, home: int, away: int, **extra: Any) -> dict[str, Any]:
    return {"Sportsbook": book, "SportsbookId": 7, "OddType": odd_type, "HomeMoneyLine": home,
            "AwayMoneyLine": away, "Updated": "2024-10-28T21:00:00", **extra}


def test_live_supersedes_pregame_and_other_odd_types_get_own_market():
    """A book's live line replaces its pregame line; first-half lines are a separate market."""
    game = load("nfl_game_odds_by_date_item_trial_scrambled.json")
    game["Status"] = "InProgress"
    game["PregameOdds"] = [line("DraftKings", "pregame", -386, 314), line("DraftKings", "1st-half", -150, 130)]
    game["LiveOdds"] = [line("DraftKings", "live", 200, -250, Unlisted="2024-10-28T21:05:00")]
    by_market = {o.market: o for o in odds(game, sport="nfl")}
    assert sorted(by_market) == ["moneyline", "moneyline:1st-half"]
    live = by_market["moneyline"]
    assert (live.bookmaker, live.suspended) == ("draftkings", True)
    assert {o.side: o.price for o in live.outcomes} == {"home": 3.0, "away": 1.4}
    assert live.timestamp == utc(2024, 10, 29, 1, 0)


def test_draw_money_line_and_missing_lines():
    """A draw price adds a draw outcome; a market with fewer than two prices is left out."""
    game = load("nfl_game_odds_by_date_item_trial_scrambled.json")
    game["PregameOdds"] = [line("BetMGM", "pregame", 150, 200, DrawMoneyLine=220, OverUnder=45.5, OverPayout=-110)]
    (moneyline,) = odds(game, sport="nfl")
    assert {o.side: o.price for o in moneyline.outcomes} == {"home": 2.5, "away": 3.0, "draw": 3.2}


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("HomeMoneyLine", 50, "$.PregameOdds[0].HomeMoneyLine"),
        ("HomeMoneyLine", "evens", "$.PregameOdds[0].HomeMoneyLine"),
        ("OverPayout", 0, "$.PregameOdds[0].OverPayout"),
        ("Sportsbook", None, "$.PregameOdds[0].Sportsbook"),
    ],
)
def test_malformed_odds_line_is_located(field, value, path):
    """Impossible American prices and anonymous books raise with the line's path."""
    game = load("nfl_game_odds_by_date_item_trial_scrambled.json")
    game["PregameOdds"][0][field] = value
    if field == "Sportsbook":
        game["PregameOdds"][0]["SportsbookId"] = None
    raises("odds", game, path, sport="nfl")


def test_odds_truncated_game():
    """A GameOdds object without its teams fails on the first missing one."""
    game = load("nfl_game_odds_by_date_item_trial_scrambled.json")
    del game["HomeTeamName"]
    raises("odds", [game], "$[0].HomeTeamName", sport="nfl")


# --- soccer -------------------------------------------------------------------------------------


def test_soccer_schedules_basic_values():
    """Soccer v4: full team names, competition key as league, UpdatedUtc as timestamp."""
    (event,) = events("soccer-scores", load("soccer_v4_schedules_basic_ucl_item.json"), competition="ucl")
    assert event.id == "sportsdataio:soccer:79507"
    assert (event.sport, event.league) == ("soccer", "UCL")
    assert (event.home_team, event.away_team) == ("FK Panevėžys", "Helsingin JK")
    assert (event.score.home, event.score.away, event.status) == (3, 0, Status.FINAL)
    # Soccer's DateTime is UTC (15:30 in Lithuania's 18:30 evening); only `Updated` is US Eastern.
    assert event.start_time == utc(2024, 7, 9, 15, 30)
    assert event.timestamp == utc(2024, 7, 10, 9, 46, 8)
    payload = load("soccer_v4_schedules_basic_ucl_item.json")
    del payload[0]["UpdatedUtc"]
    payload[0]["Period"] = "Regular"
    (eastern,) = events("soccer-scores", payload, competition="ucl")
    assert eastern.timestamp == utc(2024, 7, 10, 9, 46, 8)  # Updated 05:46:08 EDT
    assert eastern.period == "Regular"  # how the game ended


@pytest.mark.parametrize(("status", "expected"), [
    ("Break", Status.HALFTIME), ("Awarded", Status.FINAL), ("Scheduled", Status.SCHEDULED),
    ("InProgress", Status.LIVE), ("Final", Status.FINAL), ("Postponed", Status.POSTPONED),
    ("Canceled", Status.CANCELLED), ("Suspended", Status.SUSPENDED),
])
def test_soccer_documented_statuses(status, expected):
    """Every status of the soccer Game model is read; Break (half-time) is no dead letter."""
    game = {**load("soccer_v4_schedules_basic_ucl_item.json")[0], "Status": status, "IsClosed": False,
            "Period": None}
    (event,) = events("soccer-scores", [game], competition="ucl")
    assert event.status == expected
    assert event.period is None


def test_soccer_live_clock_and_errors():
    """A live soccer game shows its minute; a missing competition or team is rejected."""
    game = load("soccer_v4_schedules_basic_ucl_item.json")[0]
    live = {**game, "Status": "InProgress", "Clock": 67, "IsClosed": False}
    (event,) = events("soccer-scores", live, competition="ucl")
    assert (event.status, event.clock) == (Status.LIVE, "67'")
    raises("soccer-scores", [game], "params.competition")
    broken = copy.deepcopy(game)
    del broken["AwayTeamName"]
    raises("soccer-scores", [broken], "$[0].AwayTeamName", competition="ucl")
