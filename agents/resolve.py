"""Entity resolution: one canonical id per real fixture, whichever provider reports it.

Pure functions over plain data. A fixture is found by its *route key* (sport + normalized home
and away names, after the alias table) and a start time within a tolerance; the route key is
also the Kafka key of the resolve topic, so every record that can belong to a fixture is handled
by the same partition (and worker), whatever provider it came from. Provider ids are kept as
cross-references (`refs`), so a provider's later records find their fixture even if its start
time moved (a postponement).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from schemas.canonical import CanonicalRecord, Event, Odds, RaceResult

# Words that distinguish nothing between providers' spellings of the same club.
_NOISE = frozenset({"fc", "afc", "cf", "sc", "ac", "the", "club", "de", "fk"})
_REPLACEMENTS = (("&", " and "), ("utd", "united"), ("st.", "saint "))


@cache
def _aliases() -> dict[str, dict[str, str]]:
    """sport -> {normalized alias -> normalized canonical name} from agents/data/team_aliases.json."""
    raw: dict[str, dict[str, str]] = json.loads(
        resources.files("agents.data").joinpath("team_aliases.json").read_text()
    )
    table: dict[str, dict[str, str]] = {}
    for sport, mapping in raw.items():
        if sport.startswith("_"):
            continue
        table[sport] = {_normalize(alias): _normalize(name) for alias, name in mapping.items()}
    return table


def _normalize(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w and w not in _NOISE]
    return "-".join(words)


@lru_cache(maxsize=65536)
def team_key(sport: str | None, name: str) -> str:
    normalized = _normalize(name)
    return _aliases().get(sport or "", {}).get(normalized, normalized)


def route_key(record: dict[str, Any]) -> str:
    """The resolve topic's key for a canonical record in wire (camelCase) form."""
    if record["type"] == "race_result":
        return _race_route(record["series"], record["season"], record.get("round"), record["name"])
    return _fixture_route(record.get("sport"), record.get("homeTeam"), record.get("awayTeam"),
                          record.get("provider", ""), record.get("providerEventId", ""))


def route_key_of(record: CanonicalRecord) -> str:
    """`route_key` of a canonical model, without serializing it first (stage 1's hot path)."""
    if isinstance(record, RaceResult):
        return _race_route(record.series, record.season, record.round, record.name)
    if isinstance(record, Event | Odds):
        return _fixture_route(record.sport, record.home_team, record.away_team, record.provider,
                              record.provider_event_id)
    return f"feed|{record.provider}|{record.feed}"


def _race_route(series: str, season: str, round_: int | None, name: str) -> str:
    return f"race|{_normalize(series)}|{season}|{round_ or _normalize(name)}"


def _fixture_route(sport: str | None, home: str | None, away: str | None, provider: str, pid: str) -> str:
    if sport and home and away:
        return f"fx|{sport}|{team_key(sport, home)}|{team_key(sport, away)}"
    # Nothing to match on (e.g. a UOF message without its fixture): the provider's id is all we have.
    return f"px|{provider}|{pid}"


@dataclass
class Fixture:
    id: str
    start_ms: int
    refs: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "start": self.start_ms, "refs": self.refs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fixture:
        return cls(data["id"], int(data["start"]), dict(data["refs"]))


def canonical_id(route: str, start_ms: int) -> str:
    """Deterministic, so a replay of the same records yields the same ids."""
    hour = start_ms // 3_600_000
    digest = hashlib.blake2b(f"{route}|{hour}".encode(), digest_size=10).hexdigest()
    return f"sf_{digest}"


def resolve(
    fixtures: list[Fixture], route: str, provider: str, provider_event_id: str, *, start_ms: int | None,
    tolerance_ms: int,
) -> tuple[Fixture, bool]:
    """Find (or create) the fixture a provider's record belongs to. Returns (fixture, changed)."""
    for fixture in fixtures:
        if fixture.refs.get(provider) == provider_event_id:
            return fixture, False
    if start_ms is not None:
        near = [f for f in fixtures if abs(f.start_ms - start_ms) <= tolerance_ms and provider not in f.refs]
        if near:
            best = min(near, key=lambda f: abs(f.start_ms - start_ms))
            best.refs[provider] = provider_event_id
            return best, True
    elif len(fixtures) == 1 and provider not in fixtures[0].refs:
        # No start time (e.g. odds from a feed that omits it): the only fixture of these teams is it.
        fixtures[0].refs[provider] = provider_event_id
        return fixtures[0], True
    new_id = canonical_id(route, start_ms or 0)
    if any(fixture.id == new_id for fixture in fixtures):
        # Same teams, same hour, and the fixture already has this provider under another id: a second
        # game (a double-header, a replay of an abandoned match). A provider's two ids are two fixtures.
        new_id = canonical_id(f"{route}|{provider}|{provider_event_id}", start_ms or 0)
    created = Fixture(new_id, start_ms or 0, {provider: provider_event_id})
    fixtures.append(created)
    return created, True
