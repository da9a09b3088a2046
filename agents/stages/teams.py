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

from agents.stages.names import TeamName, parse_listed, parse_team, set_reference, spelling_key, team_similarity
from schemas import providers
from schemas.reference import TeamReference

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
        key = parse_listed(self.sport, self.name).key
        return "team_" + hashlib.blake2b(f"{self.sport}|{key}".encode(), digest_size=8).hexdigest()

    @property
    def provider_ids(self) -> dict[str, str]:
        return {m.provider: m.team_id for m in self.members}


def from_record(record: TeamReference) -> ReferenceTeam:
    return ReferenceTeam(record.provider, str(record.sport), record.team_id, record.name, record.short_name,
                         record.abbreviation)


def parse_reference(provider: str, sport: str, payload: Any) -> list[ReferenceTeam]:
    """Teams from a provider's reference response, by the parser its schemas module registers
    (`schemas.providers.reference`); raises NormalizationError when the payload is not its shape."""
    return [from_record(r) for r in providers.parse_reference(provider, payload, {"sport": sport})
            if r.kind == "team"]


def _names(team: CanonicalTeam) -> set[TeamName]:
    return {parse_listed(team.sport, n) for m in team.members for n in (m.name, m.short_name) if n}


def _similarity(a: set[TeamName], b: set[TeamName]) -> float:
    return max((team_similarity(x, y) for x in a for y in b), default=0.0)


def _keys(team: ReferenceTeam) -> set[str]:
    """Blocking keys: two names that can score SAME_TEAM_AT share one (a word's first three letters, or an
    acronym against its initials), so a team is compared with a few groups, not with every team of its sport."""
    keys: set[str] = set()
    for spelled in (team.name, team.short_name):
        if not spelled:
            continue
        tokens = parse_listed(team.sport, spelled).tokens
        keys.update(t[:3] for t in tokens)
        if len(tokens) >= 2:
            keys.add("^" + "".join(t[0] for t in tokens))
        elif tokens:
            keys.add("^" + tokens[0])
    return keys


def _exact_groups(teams: Iterable[ReferenceTeam]) -> list[CanonicalTeam]:
    """Teams of different providers whose names are one spelling (after the alias table): one group each."""
    groups: list[CanonicalTeam] = []
    by_key: dict[tuple[str, str], list[int]] = {}
    for team in sorted(teams, key=lambda t: (t.sport, -len(t.name.split()), t.provider, t.team_id)):
        slots = by_key.setdefault((team.sport, parse_listed(team.sport, team.name).key), [])
        open_slot = next((i for i in slots if team.provider not in groups[i].provider_ids), None)
        if open_slot is None:
            slots.append(len(groups))
            groups.append(CanonicalTeam(team.sport, [team]))
        else:
            groups[open_slot].members.append(team)
    return groups


def _near_pairs(groups: list[CanonicalTeam]) -> list[tuple[float, int, int]]:
    """(similarity, i, j) of every two groups that may be one team (>= SAME_TEAM_AT), compared within blocks."""
    names = [_names(g) for g in groups]
    index: dict[tuple[str, str], list[int]] = {}
    pairs: list[tuple[float, int, int]] = []
    for j, group in enumerate(groups):
        keys = {k for m in group.members for k in _keys(m)}
        for i in sorted({i for k in keys for i in index.get((group.sport, k), ())}):
            similarity = _similarity(names[i], names[j])
            if similarity >= SAME_TEAM_AT:
                pairs.append((similarity, i, j))
        for key in keys:
            index.setdefault((group.sport, key), []).append(j)
    return sorted(pairs, key=lambda p: (-p[0], p[1], p[2]))


def build(teams: Iterable[ReferenceTeam]) -> list[CanonicalTeam]:
    """Group every provider's teams into canonical teams, never two teams of one provider in one group.

    Identical spellings group first, so every provider's "Tottenham Hotspur" is one team before any near
    spelling is weighed; then near spellings (a short form, an acronym, a typo) join, the closest first.
    A group equally near two others that are not near each other joins neither: "Tottenham" beside
    "Tottenham Hotspur Alpha" and "Tottenham Hotspur Beta" is a guess, not a merge.
    """
    groups = _exact_groups(teams)
    pairs = _near_pairs(groups)
    partners: dict[int, list[tuple[float, int]]] = {}
    for similarity, i, j in pairs:
        partners.setdefault(i, []).append((similarity, j))
        partners.setdefault(j, []).append((similarity, i))
    near = {(i, j) for _, i, j in pairs}
    root = list(range(len(groups)))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    providers = [set(g.provider_ids) for g in groups]
    for similarity, i, j in pairs:
        a, b = find(i), find(j)
        if a == b or providers[a] & providers[b]:
            continue
        if any(s >= similarity and find(k) not in (a, b) and (min(k, other), max(k, other)) not in near
               for side, other in ((i, j), (j, i)) for s, k in partners[side]):
            continue  # equally near a third team that is not near the other side: ambiguous
        keep, gone = min(a, b), max(a, b)
        root[gone] = keep
        providers[keep] |= providers[gone]
    merged: dict[int, CanonicalTeam] = {}
    for i, group in enumerate(groups):
        target = merged.setdefault(find(i), CanonicalTeam(group.sport))
        target.members.extend(group.members)
    return list(merged.values())


def spellings(teams: list[CanonicalTeam]) -> dict[str, dict[str, str]]:
    """sport -> {spelling -> display name}: names, short names and abbreviations no other team shares (a short
    name two clubs go by, "United", or a code two providers give different teams, names neither)."""
    out: dict[str, dict[str, str]] = {}
    owners: dict[tuple[str, str], set[int]] = {}
    for i, team in enumerate(teams):
        for member in team.members:
            for spelled in (member.name, member.short_name):
                if spelled:
                    owners.setdefault((team.sport, spelling_key(spelled)), set()).add(i)
            if member.abbreviation:
                owners.setdefault((team.sport, "#" + member.abbreviation.upper()), set()).add(i)
    for i, team in enumerate(teams):
        table = out.setdefault(team.sport, {})
        for member in team.members:
            for spelled in (member.name, member.short_name):
                if spelled and owners[(team.sport, spelling_key(spelled))] == {i}:
                    table[spelled] = team.name
            if member.abbreviation and owners[(team.sport, "#" + member.abbreviation.upper())] == {i}:
                table[member.abbreviation] = team.name
    return out


@dataclass(frozen=True)
class Registry:
    """What name resolution uses from the providers' team lists (built off the event loop: `compile`)."""

    teams: list[CanonicalTeam]
    spellings: dict[str, dict[str, str]]
    info: dict[tuple[str, str], dict[str, str | None]]


def compile_registry(teams: Iterable[ReferenceTeam]) -> Registry:
    """Pure: canonical teams, their spellings and display data from every provider team given."""
    built = build(set(teams))
    info: dict[tuple[str, str], dict[str, str | None]] = {
        (t.sport, t.name): {"id": t.id, "name": t.name, "shortName": t.short_name, "abbreviation": t.abbreviation}
        for t in built}
    return Registry(built, spellings(built), info)


# The registry in force, from each source's teams ("file": reference files and `--reference`; "topic": the
# reference.teams topic the worker follows), merged.
_sources: dict[str, list[ReferenceTeam]] = {}
_info: dict[tuple[str, str], dict[str, str | None]] = {}


def all_teams(replacing: str | None = None, teams: Iterable[ReferenceTeam] = ()) -> list[ReferenceTeam]:
    """Every source's teams, with `replacing`'s replaced by `teams`."""
    merged = {name: found for name, found in _sources.items() if name != replacing}
    return [t for found in merged.values() for t in found] + list(teams)


def install(source: str, teams: Iterable[ReferenceTeam], compiled: Registry) -> None:
    """Put a compiled registry in force (`compiled` = `compile_registry(all_teams(source, teams))`)."""
    _sources[source] = list(teams)
    set_reference(compiled.spellings)
    _info.clear()
    _info.update(compiled.info)


def set_source(source: str, teams: Iterable[ReferenceTeam]) -> list[CanonicalTeam]:
    """Replace one source's teams and rebuild the registry at once; returns the canonical teams."""
    teams = list(teams)
    compiled = compile_registry(all_teams(source, teams))
    install(source, teams, compiled)
    return compiled.teams


def reset() -> None:
    """No registry: every source dropped (tests; a process starts this way)."""
    _sources.clear()
    _info.clear()
    set_reference({})


def team_info(sport: str | None, display_name: str | None) -> dict[str, str | None] | None:
    """The canonical team (id, name, short name, abbreviation) a fixture's display name is, if the registry
    knows it."""
    if not sport or not display_name or not _info:
        return None
    return _info.get((sport, display_name)) or _info.get((sport, parse_team(sport, display_name)[1] or ""))
