"""The canonical wire format: camelCase, type + schemaVersion, UTC `Z` instants, committed JSON Schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from schemas.canonical import Event, Odds, Outcome, Score, parse_record
from schemas.export import OUT, render, schemas


def make_event(**overrides) -> Event:
    base = {"id": "sf_1", "sport": "soccer", "league": "EPL", "home_team": "Arsenal", "away_team": "Chelsea",
                "status": "live", "start_time": datetime(2024, 8, 19, 19, 0, tzinfo=UTC), "provider": "p",
                "provider_event_id": "1", "timestamp": datetime(2024, 8, 19, 19, 30, 5, 123456, tzinfo=UTC),
                "score": Score(home=1, away=0)}
    return Event(**{**base, **overrides})


def test_event_is_a_superset_of_the_original_sportsevent():
    """Every field of the original engine's SportsEvent is present with the same name and JSON shape."""
    wire = orjson.loads(make_event().to_json())
    assert wire["id"] == "sf_1"
    assert wire["sport"] == "soccer"
    assert wire["homeTeam"] == "Arsenal"
    assert wire["awayTeam"] == "Chelsea"
    assert wire["score"] == {"home": 1, "away": 0}
    assert wire["status"] == "live"
    assert wire["timestamp"] == "2024-08-19T19:30:05.123Z"
    assert wire["type"] == "event"
    assert wire["schemaVersion"] == 1


def test_instants_are_converted_to_utc_with_z():
    """An aware time in another zone is emitted in UTC ending in Z."""
    eastern = timezone(timedelta(hours=-4))
    event = make_event(start_time=datetime(2024, 8, 19, 15, 0, tzinfo=eastern))
    assert orjson.loads(event.to_json())["startTime"] == "2024-08-19T19:00:00.000Z"


def test_score_is_null_before_the_start():
    """Scores are both null before a game starts, never 0-0 by default."""
    wire = orjson.loads(make_event(status="scheduled", score=Score()).to_json())
    assert wire["score"] == {"home": None, "away": None}


def test_round_trip_through_the_wire():
    """parse_record rebuilds the record from its JSON."""
    odds = Odds(event_id="sf_1", provider="p", provider_event_id="1", bookmaker="fanduel", market="moneyline",
                outcomes=[Outcome(side="home", price=2.5)], timestamp=datetime(2024, 1, 1, tzinfo=UTC))
    assert parse_record(odds.to_json()) == odds


def test_invalid_records_are_refused():
    """Unknown statuses and non-decimal prices do not validate."""
    with pytest.raises(ValidationError):
        make_event(status="in-progress")
    with pytest.raises(ValidationError):
        Outcome(side="home", price=0.5)


def test_committed_json_schemas_match_the_models():
    """schemas/jsonschema/*.json are current (regenerate with `python -m schemas.export`)."""
    for name, schema in schemas().items():
        path = OUT / f"{name}.schema.json"
        assert path.exists(), f"missing {path}: run python -m schemas.export"
        assert path.read_text() == render(schema), f"{path} drifted: run python -m schemas.export"
