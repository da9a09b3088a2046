"""A team registry built from the providers' own team lists (reference data), not from a hand list.

`parse_reference` reads one provider's teams/participants/competitors response; `build` groups the
teams of all providers into canonical teams (one per real team: the same parsing and similarity as
fixture matching, and never two teams of one provider in one group); each canonical team has a
stable id, display name, short name and abbreviation, and maps every provider's team id. Its
spellings (names, short names, unambiguous abbreviations) feed name resolution
(`agents.stages.names.set_reference`), so e.g. a provider's "MUN" resolves once any provider has said
which team that is.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agents.stages.names import parse_team, team_similarity

SAME_TEAM_AT = 0.85


@dataclass(frozen=True)
class ReferenceTeam:
    provider: str
    sport: str
    team_id: str
    name: str
    short_name: str | None = None
    abbreviation: str | None = None


@dataclass
class CanonicalTeam:
    sport: str
    members: list[ReferenceTeam] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The full name most providers give; on a tie the most complete (most words, then longest)."""
        names = Counter(m.name for m in self.members)
        return max(names, key=lambda n: (names[n], len(n.split()), len(n), n))

    @property
    def short_name(self) -> str | None:
        shorts = Counter(m.short_name for m in self.members if m.short_name)
        return max(shorts, key=lambda n: (shorts[n], -len(n), n)) if shorts else None

    @property
    def abbreviation(self) -> str | None:
        codes = Counter(m.abbreviation.upper() for m in self.members if m.abbreviation)
        return max(codes, key=lambda c: (codes[c], c)) if codes else None

    @property
    def id(self) -> str:
        key = parse_team(self.sport, self.name)[0].key
        return "team_" + hashlib.blake2b(f"{self.sport}|{key}".encode(), digest_size=8).hexdigest()

    @property
    def provider_ids(self) -> dict[str, str]:
        return {m.provider: m.team_id for m in self.members}


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def parse_reference(provider: str, sport: str, payload: Any) -> list[ReferenceTeam]:
    """Teams from a provider's reference response (the shapes the providers document)."""
    teams: list[ReferenceTeam] = []
    if provider == "sportsdataio":  # /teams: [{TeamID, Key, City, Name, FullName?}]
        for t in payload:
            full = t.get("FullName") or " ".join(p for p in (t.get("City"), t.get("Name")) if p)
            teams.append(ReferenceTeam(provider, sport, str(t.get("TeamID") or t["Key"]), full, _str(t.get("Name")),
                                       _str(t.get("Key"))))
    elif provider == "apisports":  # /teams: {response: [{team: {id, name, code}}]}
        for item in payload.get("response", []):
            t = item["team"]
            teams.append(ReferenceTeam(provider, sport, str(t["id"]), t["name"], None, _str(t.get("code"))))
    elif provider == "sportradar":  # competitors: {season_competitors|competitors: [...]}, NBA: {teams: [...]}
        for t in payload.get("season_competitors") or payload.get("competitors") or []:
            teams.append(ReferenceTeam(provider, sport, t["id"], t["name"], _str(t.get("short_name")),
                                       _str(t.get("abbreviation"))))
        for t in payload.get("teams") or []:
            full = " ".join(p for p in (t.get("market"), t.get("name")) if p)
            teams.append(ReferenceTeam(provider, sport, t["id"], full, _str(t.get("name")), _str(t.get("alias"))))
    elif provider == "theoddsapi":  # /participants: [{full_name, id}]
        for t in payload:
            teams.append(ReferenceTeam(provider, sport, t["id"], t["full_name"]))
    elif provider == "statscore":  # participants: {api: {data: {participants: [{id, name, short_name, acronym}]}}}
        for t in payload.get("api", {}).get("data", {}).get("participants", []):
            teams.append(ReferenceTeam(provider, sport, str(t["id"]), t["name"], _str(t.get("short_name")),
                                       _str(t.get("acronym"))))
    else:
        raise ValueError(f"no reference format known for provider {provider!r}")
    return teams


def _similarity(team: CanonicalTeam, candidate: ReferenceTeam) -> float:
    names = [parse_team(candidate.sport, n)[0] for n in (candidate.name, candidate.short_name) if n]
    known = [parse_team(team.sport, n)[0] for m in team.members for n in (m.name, m.short_name) if n]
    return max((team_similarity(a, b) for a in names for b in known), default=0.0)


def build(teams: Iterable[ReferenceTeam]) -> list[CanonicalTeam]:
    """Group every provider's teams into canonical teams (longest names first, so a full name anchors a group)."""
    groups: list[CanonicalTeam] = []
    for team in sorted(teams, key=lambda t: (t.sport, -len(t.name.split()), t.provider, t.team_id)):
        open_groups = [g for g in groups if g.sport == team.sport and team.provider not in g.provider_ids]
        best = max(open_groups, key=lambda g: _similarity(g, team), default=None)
        if best is not None and _similarity(best, team) >= SAME_TEAM_AT:
            best.members.append(team)
        else:
            groups.append(CanonicalTeam(team.sport, [team]))
    return groups


def spellings(teams: list[CanonicalTeam]) -> dict[str, dict[str, str]]:
    """sport -> {spelling -> display name}: names, short names and abbreviations no other team shares."""
    out: dict[str, dict[str, str]] = {}
    codes: Counter[tuple[str, str]] = Counter()
    for team in teams:
        for code in {m.abbreviation.upper() for m in team.members if m.abbreviation}:
            codes[(team.sport, code)] += 1
    for team in teams:
        table = out.setdefault(team.sport, {})
        for member in team.members:
            for spelled in (member.name, member.short_name):
                if spelled:
                    table[spelled] = team.name
            if member.abbreviation and codes[(team.sport, member.abbreviation.upper())] == 1:
                table[member.abbreviation] = team.name
    return out
