"""Apply a resolution to a candidate record: canonical id, canonical names and orientation.

Stage 2 calls this between resolving (`agents.stages.resolve`) and versioning (`agents.stages.ordering`), so the
ordering sees the same team names whichever provider is followed: a failover changes no name.
"""

from __future__ import annotations

from typing import Any

import orjson

from agents.stages.gameclock import game_clock
from agents.stages.normalize import OutRecord
from agents.stages.resolve import Resolution
from agents.stages.teams import team_info
from schemas import topics

_SWAP_SIDE = {"home": "away", "away": "home"}


def canonicalize(record: dict[str, Any], resolution: Resolution) -> None:
    """Rewrite a candidate (wire form, in place) to its fixture's canonical id, names and orientation."""
    fixture = resolution.fixture
    kind = record["type"]
    if kind in ("odds", "settlement"):
        record["eventId"] = fixture.id
    else:
        record["id"] = fixture.id
    if kind == "race_result":
        return
    if resolution.swapped:
        _swap(record)
    if kind == "event":
        record["refs"] = dict(fixture.refs)
        record["providerNames"] = {
            provider: {"homeTeam": s[0], "awayTeam": s[1], "league": s[2]}
            for provider, s in fixture.spellings.items()
        }
    if fixture.home and fixture.away and record.get("homeTeam") is not None:
        record["homeTeam"], record["awayTeam"] = fixture.home, fixture.away
    if kind == "event":
        _team_info(record, fixture.home, fixture.away)
    if fixture.league and record.get("league") is not None:
        record["league"] = fixture.league


def _team_info(record: dict[str, Any], home: str | None, away: str | None) -> None:
    """The registry's canonical teams (id, name, short name, abbreviation), when it knows them."""
    sides = (("homeTeamInfo", home or record.get("homeTeam")), ("awayTeamInfo", away or record.get("awayTeam")))
    for field, name in sides:
        info = team_info(record.get("sport"), name)
        if info is not None:
            record[field] = info


def with_game_clock(record: dict[str, Any]) -> dict[str, Any]:
    """An event as published: the canonical period/clock fields derived from the period and clock it
    shows. Applied to the version being published (after precedence chose its period and clock from
    whichever source), so the derived fields always describe the text beside them."""
    if record.get("type") == "event":
        record.update(game_clock(record))
    return record


def _swap(record: dict[str, Any]) -> None:
    """The provider lists home and away the other way round: turn its record around."""
    record["homeTeam"], record["awayTeam"] = record.get("awayTeam"), record.get("homeTeam")
    score = record.get("score")
    if isinstance(score, dict):
        score["home"], score["away"] = score.get("away"), score.get("home")
    for outcome in record.get("outcomes") or ():
        outcome["side"] = _SWAP_SIDE.get(outcome["side"], outcome["side"])


def review_out(review: dict[str, Any], carried: list[tuple[str, bytes]]) -> OutRecord:
    key = f"{review['provider']}|{review['providerEventId']}".encode()
    return OutRecord(topics.UNMATCHED, key, orjson.dumps(review), list(carried))
