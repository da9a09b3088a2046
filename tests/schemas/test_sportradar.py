"""Sportradar Sports Data API (REST JSON) normalizers: soccer and NBA summaries and schedules."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.canonical import Event, Sport, Status
from schemas.errors import NormalizationError
from schemas.providers.sportradar import (
    NBA_STATUS,
    SOCCER_MATCH_STATUS_OVERRIDES,
    SOCCER_STATUS,
    nba_status,
    normalize_nba_schedule,
    normalize_nba_summary,
    normalize_soccer_schedule,
    normalize_soccer_summary,
    soccer_status,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sportradar"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def only_event(records: list[Any]) -> Event:
    assert len(records) == 1
    assert isinstance(records[0], Event)
    return records[0]


def test_soccer_v4_live_summary() -> None:
    """v4 live summary: teams by qualifier, clock.played, match_situation time as the update time."""
    ev = only_event(normalize_soccer_summary(load("sportsapi_soccer_v4_sport_event_summary_live.json"), {}))
    assert ev.id == "sportradar:sr:sport_event:51133377"
    assert ev.provider_event_id == "sr:sport_event:51133377"
    assert (ev.home_team, ev.away_team) == ("Qatar", "IR Iran")
    assert (ev.score.home, ev.score.away) == (0, 0)
    assert ev.status == Status.LIVE
    assert (ev.period, ev.clock) == ("1st_half", "19:14")
    assert ev.sport == Sport.SOCCER
    assert ev.league == "World Cup Qualification AFC"
    assert ev.start_time == datetime(2025, 6, 5, 18, 15, tzinfo=UTC)
    assert ev.timestamp == ev.source_timestamp == datetime(2025, 6, 5, 18, 37, 30, tzinfo=UTC)
    assert ev.seq == 0
    assert ev.refs == {}


def test_soccer_v3_closed_summary() -> None:
    """v3 summary: `scheduled` and `tournament` instead of v4 names; closed is final, no clock."""
    ev = only_event(normalize_soccer_summary(load("sportsapi_soccer_v3_match_summary_closed.json"), {}))
    assert ev.id == "sportradar:sr:match:11854838"
    assert (ev.home_team, ev.away_team) == ("FC Copenhagen", "MSK Zilina")
    assert (ev.score.home, ev.score.away) == (1, 2)
    assert ev.status == Status.FINAL
    assert (ev.period, ev.clock) == (None, None)
    assert ev.league == "UEFA Champions League"
    assert ev.start_time == datetime(2017, 7, 19, 17, 30, tzinfo=UTC)
    assert ev.timestamp == datetime(2017, 10, 10, 22, 22, 26, tzinfo=UTC)


def test_soccer_v3_live_timeline() -> None:
    """v3 timeline has the summary head; its clock is `match_time`."""
    ev = only_event(normalize_soccer_summary(load("sportsapi_soccer_v3_match_timeline_live.json"), {}))
    assert (ev.home_team, ev.away_team) == ("Eintracht Frankfurt", "Werder Bremen")
    assert (ev.score.home, ev.score.away) == (1, 1)
    assert (ev.status, ev.period, ev.clock) == (Status.LIVE, "2nd_half", "70:10")
    assert ev.league == "Bundesliga"


def test_soccer_halftime_overrides_live() -> None:
    """`match_status=halftime` refines `status=live`."""
    doc = load("sportsapi_soccer_v4_sport_event_summary_live.json")
    doc["sport_event_status"]["match_status"] = "halftime"
    assert only_event(normalize_soccer_summary(doc, {})).status == Status.HALFTIME


def test_soccer_schedule_item_and_list() -> None:
    """A bare schedules[] item and the full `{"schedules": [...]}` document both normalize."""
    item = load("sportsapi_soccer_v4_season_schedule_item_closed.json")
    ev = only_event(normalize_soccer_schedule(item, {}))
    assert (ev.home_team, ev.away_team) == ("Manchester United", "Fulham FC")
    assert (ev.score.home, ev.score.away, ev.status) == (1, 0, Status.FINAL)
    assert ev.league == "Premier League"
    assert ev.start_time == datetime(2024, 8, 16, 19, 0, tzinfo=UTC)
    later = copy.deepcopy(item)
    later["sport_event"]["id"] = "sr:sport_event:50849968"
    del later["sport_event_status"]["home_score"], later["sport_event_status"]["away_score"]
    later["sport_event_status"].update(status="not_started", match_status="not_started")
    records = normalize_soccer_schedule({"schedules": [item, later]}, {})
    assert [r.provider_event_id for r in records] == ["sr:sport_event:50849967", "sr:sport_event:50849968"]
    second = records[1]
    assert isinstance(second, Event)
    assert (second.status, second.score.home, second.score.away) == (Status.SCHEDULED, None, None)


def test_received_at_is_the_timestamp_when_the_document_has_none() -> None:
    """Without generated_at/updated_at the envelope's receive time stamps the event."""
    ev = only_event(
        normalize_soccer_schedule(
            load("sportsapi_soccer_v4_season_schedule_item_closed.json"), {"_received_at": "2024-08-16T21:00:00Z"}
        )
    )
    assert ev.timestamp == datetime(2024, 8, 16, 21, 0, tzinfo=UTC)
    assert ev.source_timestamp is None


def test_nba_summary_closed() -> None:
    """Summary team names are market + name; points are the score."""
    ev = only_event(normalize_nba_summary(load("sportsapi_nba_game_summary_closed_2017.json"), {}))
    assert ev.id == "sportradar:3700bb52-50f0-4929-b6b0-ae0b3cbad019"
    assert (ev.home_team, ev.away_team) == ("Charlotte Hornets", "Toronto Raptors")
    assert (ev.score.home, ev.score.away) == (113, 78)
    assert (ev.status, ev.sport, ev.league) == (Status.FINAL, Sport.BASKETBALL, "NBA")
    assert (ev.period, ev.clock) == (None, None)
    assert ev.start_time == datetime(2017, 1, 21, 0, 0, tzinfo=UTC)


def test_nba_summary_in_overtime() -> None:
    """Quarter 5 of a live game is the first overtime."""
    doc = load("sportsapi_nba_game_summary_closed_2017.json")
    doc.update(status="inprogress", quarter=5, clock="03:12")
    ev = only_event(normalize_nba_summary(doc, {}))
    assert (ev.status, ev.period, ev.clock) == (Status.LIVE, "OT1", "03:12")


def test_nba_daily_schedule_2017() -> None:
    """Schedule games carry full names and home_points/away_points; same id as the summary."""
    records = normalize_nba_schedule(load("sportsapi_nba_daily_schedule_2017-01-20.json"), {})
    assert len(records) == 3
    first = records[0]
    assert isinstance(first, Event)
    assert first.id == "sportradar:3700bb52-50f0-4929-b6b0-ae0b3cbad019"
    assert (first.home_team, first.away_team, first.score.home, first.score.away) == (
        "Charlotte Hornets", "Toronto Raptors", 113, 78,
    )
    assert [r.status for r in records] == [Status.FINAL] * 3


def test_nba_v7_schedule_unnecessary_game() -> None:
    """v7: an unplayed 'if necessary' game is cancelled with no score; `Z` times are UTC."""
    records = normalize_nba_schedule(load("sportsapi_nba_v7_daily_schedule_2021-06-06.json"), {})
    events = [r for r in records if isinstance(r, Event)]
    assert [e.status for e in events] == [Status.FINAL, Status.CANCELLED, Status.FINAL]
    assert (events[1].score.home, events[1].score.away) == (None, None)
    assert (events[2].home_team, events[2].away_team) == ("LA Clippers", "Dallas Mavericks")
    assert (events[2].score.home, events[2].score.away) == (126, 111)
    assert events[2].start_time == datetime(2021, 6, 6, 19, 30, tzinfo=UTC)
    assert events[0].provider_event_id == "333f1cb0-0c6c-415c-8563-571d64b4cb78"


@pytest.mark.parametrize(
    ("fn", "payload", "path"),
    [
        (normalize_soccer_summary, '{"sport_event": {"id": "sr:match:1", "compet', "$"),
        (normalize_soccer_summary, [], "$"),
        (normalize_nba_summary, '{"id": "3700bb52', "$"),
        (normalize_nba_schedule, {"games": "nope"}, "$.games"),
        (normalize_soccer_schedule, {"schedules": {}}, "$.schedules"),
    ],
)
def test_truncated_or_malformed_json(fn: Any, payload: Any, path: str) -> None:
    """Undecoded (truncated) text and wrong shapes are located errors, not crashes."""
    with pytest.raises(NormalizationError) as info:
        fn(payload, {})
    assert (info.value.provider, info.value.path) == ("sportradar", path)


def test_error_paths_name_the_field() -> None:
    """Errors carry feed and the JSON path of the offending value."""
    doc = load("sportsapi_soccer_v4_sport_event_summary_live.json")
    bad = copy.deepcopy(doc)
    bad["sport_event_status"]["home_score"] = -1
    with pytest.raises(NormalizationError) as info:
        normalize_soccer_summary(bad, {})
    assert (info.value.feed, info.value.path) == ("soccer-summary", "$.sport_event_status.home_score")

    bad = copy.deepcopy(doc)
    bad["sport_event"]["competitors"][0]["qualifier"] = "away"
    with pytest.raises(NormalizationError) as info:
        normalize_soccer_summary(bad, {})
    assert info.value.path == "$.sport_event.competitors"

    bad = copy.deepcopy(doc)
    del bad["sport_event"]["competitors"][1]["name"]
    with pytest.raises(NormalizationError) as info:
        normalize_soccer_summary(bad, {})
    assert info.value.path == "$.sport_event.competitors[1].name"

    item = load("sportsapi_soccer_v4_season_schedule_item_closed.json")
    broken = copy.deepcopy(item)
    broken["sport_event_status"]["status"] = "paused_for_tea"
    with pytest.raises(NormalizationError) as info:
        normalize_soccer_schedule({"schedules": [item, broken]}, {})
    assert (info.value.feed, info.value.path) == ("soccer-schedule", "$.schedules[1].sport_event_status.status")

    games = load("sportsapi_nba_daily_schedule_2017-01-20.json")
    games["games"][2]["scheduled"] = "tomorrow-ish"
    with pytest.raises(NormalizationError) as info:
        normalize_nba_schedule(games, {})
    assert (info.value.feed, info.value.path) == ("nba-schedule", "$.games[2].scheduled")


@given(st.sampled_from(sorted(SOCCER_STATUS)), st.one_of(st.none(), st.sampled_from(["1st_half", "ended"])))
def test_every_soccer_status_maps(code: str, match_status: str | None) -> None:
    """Known soccer statuses map through the table (match statuses without overrides change nothing)."""
    assert soccer_status(code, match_status, "soccer-summary") == SOCCER_STATUS[code]


@given(st.sampled_from(sorted(SOCCER_STATUS)), st.sampled_from(sorted(SOCCER_MATCH_STATUS_OVERRIDES)))
def test_soccer_match_status_overrides(code: str, match_status: str) -> None:
    """An overriding match_status wins over the base status."""
    assert soccer_status(code, match_status, "soccer-summary") == SOCCER_MATCH_STATUS_OVERRIDES[match_status]


@given(st.text().filter(lambda s: s not in SOCCER_STATUS))
def test_unknown_soccer_status_raises(code: str) -> None:
    """Anything else is refused with the status path."""
    with pytest.raises(NormalizationError) as info:
        soccer_status(code, None, "soccer-summary", "$.sport_event_status")
    assert info.value.path == "$.sport_event_status.status"


@given(st.sampled_from(sorted(NBA_STATUS)))
def test_every_nba_status_maps(code: str) -> None:
    """Known NBA statuses map through the table."""
    assert nba_status(code, "nba-summary") == NBA_STATUS[code]


@given(st.text().filter(lambda s: s not in NBA_STATUS))
def test_unknown_nba_status_raises(code: str) -> None:
    """Unknown NBA statuses are refused."""
    with pytest.raises(NormalizationError):
        nba_status(code, "nba-schedule")


def test_manifest_entries_normalize() -> None:
    """Every manifest entry names an existing file and a feed of this provider, and normalizes."""
    from schemas.providers.sportradar_uof import normalize_uof

    feeds = {
        "soccer-summary": normalize_soccer_summary,
        "soccer-schedule": normalize_soccer_schedule,
        "nba-summary": normalize_nba_summary,
        "nba-schedule": normalize_nba_schedule,
        "uof": normalize_uof,
    }
    manifest = load("manifest.json")
    assert {entry["feed"] for entry in manifest} == set(feeds)
    for entry in manifest:
        text = (FIXTURES / entry["file"]).read_text()
        payload = text if entry["file"].endswith(".xml") else json.loads(text)
        assert entry["provenance"]
        feeds[entry["feed"]](payload, entry["params"])
