"""Jolpica-F1 (the Ergast-compatible successor of Ergast): `/ergast/f1/{season}/{round}/results.json`.

Format facts this module relies on:
- Body: `{"MRData": {series, limit, offset, total, RaceTable: {season, round, Races: [...]}}}`;
  every number is a JSON string (`"position": "1"`, `"points": "25"`).
- A race: `season`, `round`, `raceName`, `date` (`YYYY-MM-DD`) and `time` (`HH:MM:SSZ`, UTC,
  absent for old races), `Results[]`. A round that has not been run has no race in `Races`.
- A result: `position` is the classification order for everybody, `positionText` is the
  position or a letter for the unclassified (`R` retired, `D` disqualified, `E` excluded,
  `W` withdrawn, `F` failed to qualify, `N` not classified); `status` says why (`Finished`,
  `+1 Lap`, `Retired`, `Disqualified`, ...). `Time.time` is the winner's race time and the
  others' gap (`+0.895`, `+1:21.147`); lapped and retired cars have no `Time`.
- `total` counts result rows; when it exceeds `offset + limit` the page is cut and a race's
  result list would be incomplete, so the connector must ask with a larger `limit`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from schemas.canonical import CanonicalRecord, RaceEntry, RaceResult, Status
from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.providers import feed, reference
from schemas.providers._common import provisional_event_id, team_reference, validate
from schemas.reference import TeamReference
from schemas.timeutil import parse_iso

PROVIDER = "jolpica"
SERIES: Mapping[str, str] = {"f1": "Formula 1"}
LAPPED = re.compile(r"^\+\d+ Laps?$")


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class RawDriver(_Raw):
    given_name: str = Field(alias="givenName")
    family_name: str = Field(alias="familyName")


class RawConstructor(_Raw):
    name: str


class RawTime(_Raw):
    time: str


class RawResult(_Raw):
    position: int | None = None
    position_text: str = Field(alias="positionText")
    points: float | None = None
    driver: RawDriver = Field(alias="Driver")
    constructor: RawConstructor | None = Field(None, alias="Constructor")
    laps: NonNegativeInt | None = None
    status: str | None = None
    time: RawTime | None = Field(None, alias="Time")


class RawRace(_Raw):
    season: str
    round: int
    race_name: str = Field(alias="raceName")
    race_date: date = Field(alias="date")
    race_time: time | None = Field(None, alias="time")
    results: list[RawResult] = Field(default_factory=list, alias="Results")


class RawRaceTable(_Raw):
    races: list[RawRace] = Field(alias="Races")


class RawMRData(_Raw):
    series: str = "f1"
    limit: int
    offset: int
    total: int
    race_table: RawRaceTable = Field(alias="RaceTable")


class RawBody(_Raw):
    mr_data: RawMRData = Field(alias="MRData")


def _start_time(race: RawRace) -> datetime:
    start = datetime.combine(race.race_date, race.race_time or time(0))
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start


def _entry(result: RawResult) -> RaceEntry:
    classified = result.position_text.isdigit()
    finish = result.time.time if result.time else None
    gap = finish if finish and finish.startswith("+") else None
    if finish is None and result.status and LAPPED.match(result.status):
        gap = result.status
    return RaceEntry(
        position=result.position if classified else None,
        competitor=f"{result.driver.given_name} {result.driver.family_name}",
        team=result.constructor.name if result.constructor else None,
        time=None if gap or finish is None else finish, gap=gap, laps=result.laps, status=result.status,
        points=result.points,
    )


@feed(PROVIDER, "results")
def normalize_results(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """/ergast/f1/{season}/{round}/results.json: one race result per race in the table."""
    body = validate(RawBody, payload, PROVIDER, "results")
    mr = body.mr_data
    if mr.total > mr.offset + mr.limit:
        reason = f"page holds rows {mr.offset}..{mr.offset + mr.limit} of {mr.total}: a race's results are cut"
        raise NormalizationError(PROVIDER, "results", reason, "$.MRData.total")
    received = params.get(RECEIVED_AT_PARAM)
    received_at = parse_iso(received) if received else None
    records: list[CanonicalRecord] = []
    for race in mr.race_table.races:
        provider_event_id = f"{mr.series}:{race.season}:{race.round}"
        start_time = _start_time(race)
        records.append(
            RaceResult(
                id=provisional_event_id(PROVIDER, provider_event_id), series=SERIES.get(mr.series, mr.series),
                season=race.season, round=race.round, name=race.race_name, start_time=start_time,
                status=Status.FINAL if race.results else Status.SCHEDULED,
                results=[_entry(result) for result in race.results], provider=PROVIDER,
                provider_event_id=provider_event_id, timestamp=received_at or start_time,
            )
        )
    return records


@reference("jolpica")
def drivers_and_constructors(payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """`/ergast/f1/{season}/constructors/` (`MRData.ConstructorTable.Constructors: [{constructorId, name}]`)
    and `/ergast/f1/{season}/drivers/` (`MRData.DriverTable.Drivers: [{driverId, code, givenName,
    familyName}]`)."""
    data = payload["MRData"]
    out = [team_reference("jolpica", params, c["constructorId"], c["name"])
           for c in (data.get("ConstructorTable") or {}).get("Constructors", [])]
    for d in (data.get("DriverTable") or {}).get("Drivers", []):
        out.append(team_reference("jolpica", params, d["driverId"], f"{d['givenName']} {d['familyName']}",
                                  short_name=d["familyName"], abbreviation=d.get("code"), kind="driver"))
    return out
