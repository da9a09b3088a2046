"""Jolpica-F1 (Ergast-compatible) race results normalizer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.canonical import RaceResult, Status
from schemas.errors import NormalizationError
from schemas.providers import normalize

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jolpica"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
SAMPLE = "results_2025_1.json"
RESULTS = "$.MRData.RaceTable.Races[0].Results"


def load(name: str = SAMPLE) -> Any:
    return json.loads((FIXTURES / name).read_text())


def race_of(body: Any) -> dict[str, Any]:
    return body["MRData"]["RaceTable"]["Races"][0]


def run(payload: Any, params: dict[str, str] | None = None) -> list[Any]:
    return normalize("jolpica", "results", payload, params or {})


def raises(payload: Any, path: str) -> NormalizationError:
    with pytest.raises(NormalizationError) as info:
        run(payload)
    assert (info.value.provider, info.value.feed, info.value.path) == ("jolpica", "results", path)
    return info.value


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_every_sample_normalizes(entry):
    """Each manifest sample yields records that survive a wire round trip."""
    records = run(load(entry["file"]), entry["params"])
    assert records
    for record in records:
        assert type(record).model_validate(record.to_wire()) == record


def test_race_result_values():
    """2025 round 1: race metadata, winner time, gaps, retirements unclassified, float points."""
    (race,) = run(load(), {"_received_at": "2025-03-16T07:00:00Z"})
    assert isinstance(race, RaceResult)
    assert (race.id, race.provider_event_id) == ("jolpica:f1:2025:1", "f1:2025:1")
    assert (race.sport, race.series, race.season, race.round) == ("motorsport", "Formula 1", "2025", 1)
    assert (race.name, race.status) == ("Australian Grand Prix", Status.FINAL)
    assert race.start_time == datetime(2025, 3, 16, 4, 0, tzinfo=UTC)
    assert race.timestamp == datetime(2025, 3, 16, 7, 0, tzinfo=UTC)
    winner, second, *_, lawson, sainz = race.results
    assert (winner.position, winner.competitor, winner.team, winner.time, winner.gap, winner.laps, winner.points) == (
        1, "Lando Norris", "McLaren", "1:42:06.304", None, 57, 25.0)
    assert (second.position, second.competitor, second.time, second.gap, second.status) == (
        2, "Max Verstappen", None, "+0.895", "Finished")
    assert (lawson.position, lawson.competitor, lawson.status, lawson.laps, lawson.gap) == (
        None, "Liam Lawson", "Retired", 46, None)
    assert (sainz.position, sainz.laps, sainz.team) == (None, 0, "Williams")
    assert [r.position for r in race.results] == [1, 2, 3, 10, None, None]


def test_lapped_car_gap_and_missing_start_time():
    """A lapped finisher has no Time: its status is the gap. Old races without `time` start at 00:00Z."""
    body = load()
    race = race_of(body)
    del race["time"]
    result = race["Results"][3]
    del result["Time"]
    result["status"] = "+1 Lap"
    (record,) = run(body)
    assert record.start_time == datetime(2025, 3, 16, tzinfo=UTC)
    assert (record.results[3].gap, record.results[3].time, record.results[3].position) == ("+1 Lap", None, 10)


def test_round_not_run_yet_is_empty():
    """An empty race table (the round has no results yet) gives no records."""
    body = load()
    body["MRData"]["RaceTable"]["Races"] = []
    assert run(body) == []


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b.pop("MRData"), "$.MRData"),
        (lambda b: race_of(b)["Results"][0].pop("Driver"), f"{RESULTS}[0].Driver"),
        (lambda b: race_of(b)["Results"][1].update(laps="-2"), f"{RESULTS}[1].laps"),
        (lambda b: race_of(b)["Results"][2].update(position="third"), f"{RESULTS}[2].position"),
        (lambda b: race_of(b).update(date="16/03/2025"), "$.MRData.RaceTable.Races[0].date"),
        (lambda b: race_of(b).pop("raceName"), "$.MRData.RaceTable.Races[0].raceName"),
    ],
)
def test_malformed_body_is_located(mutate, path):
    """Missing or invalid fields raise NormalizationError with the Ergast path."""
    body = load()
    mutate(body)
    raises(body, path)


def test_truncated_and_paginated_bodies():
    """A body cut before its race table, a non-object, or a page that cuts the results is rejected."""
    raises({"MRData": {"xmlns": "", "series": "f1", "limit": "30", "offset": "0", "total": "20"}}, "$.MRData.RaceTable")
    raises([], "$")
    body = load()
    body["MRData"]["limit"] = "5"
    raises(body, "$.MRData.total")


@given(text=st.one_of(st.sampled_from(["R", "D", "E", "W", "F", "N"]), st.integers(1, 30).map(str)))
def test_position_text_decides_classification(text):
    """Numeric positionText keeps the position; a letter (retired, disqualified, ...) leaves it null."""
    body = load()
    race_of(body)["Results"][2]["positionText"] = text
    (race,) = run(body)
    assert race.results[2].position == (3 if text.isdigit() else None)
