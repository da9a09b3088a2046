"""Entity resolution: one canonical id per real fixture, whichever provider reports it and however
it spells the teams.

Pure functions over plain data, used by the worker (stage 2), `sportsflow replay` and
`sportsflow resolve` alike.

Routing: the resolve topic is keyed by a *route* (sport + the two teams' anchors, in sorted order,
see `agents.stages.names.TeamName.anchor`), a key every usual spelling of a fixture shares ("FC Bayern",
"Bayern München" and "Bayern Munich" all anchor on "bay"; home/away listed either way round gives
the same route). So one partition sees every provider's view of a fixture and can compare them.

Matching, within a route: a provider's record first finds its fixture by the provider's own id
(`refs`, so a postponed fixture is still found); otherwise each fixture of the route that does not
already hold this provider is scored (team names in both orientations, start time, competition;
see `score`) and the best one at or above `MERGE_AT` is joined. Below it nothing merges: a new
fixture is created. A provider's two ids are never one fixture. A review record (for
`canonical.unmatched`, listing the candidates and scores) is made only where there is doubt: a merge below
`SURE_AT`, a new fixture beside a candidate below `MERGE_AT` (or two good ones and no start time), and a
new fixture with a team name that nothing knows (no team list, pin or alias: it may be another
provider's fixture under a spelling no one can match). The first sighting of a fixture whose teams
are known is not reported.

Canonical names: a fixture's display names are fixed when it is created (a pinned or known name
for the spelling if there is one, else the creating provider's spelling) and do not change on
failover; each provider's own spelling is kept on the fixture (`spellings`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from agents.stages.names import (
    competition_similarity,
    fixture_anchors,
    listed_apart,
    parse_team,
    team_similarity,
    words,
)
from schemas.canonical import CanonicalRecord, Event, Odds, RaceResult, Settlement

MERGE_AT = 0.75  # below this confidence nothing is merged
SURE_AT = 0.9  # merges below this are reported for review
REVIEW_FLOOR = 0.1  # candidates scoring less are not worth listing
SWAP_PENALTY = 0.05  # a provider listing home and away the other way round is rarer than agreeing
LEAGUE_PENALTY = 0.15  # both competitions known and clearly different
# Confidence lost at the start-time tolerance's edge (linear in the distance). Two meetings of the same
# teams 90 minutes apart must not merge when one provider's second meeting arrives before any other
# provider's (a merge interleaves two games' scores; a split is reported for review): 0.4 puts a perfect
# name match 90 minutes away (of a 2 h tolerance) at 0.70, below MERGE_AT; 60 minutes away still merges.
TIME_PENALTY = 0.4
UNKNOWN_START = 0  # a fixture first seen in records without a start time (odds)


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
    if isinstance(record, Event | Odds | Settlement):
        return _fixture_route(record.sport, record.home_team, record.away_team, record.provider,
                              record.provider_event_id)
    return f"feed|{record.provider}|{record.feed}"


def route_keys_of(records: list[CanonicalRecord]) -> list[str]:
    """`route_key_of` of each record; the records of one fixture (its event and every odds market of a
    response) share one computation."""
    known: dict[tuple[str | None, str | None, str | None, str, str], str] = {}
    keys = []
    for record in records:
        if isinstance(record, Event | Odds | Settlement):
            fixture = (record.sport, record.home_team, record.away_team, record.provider, record.provider_event_id)
            key = known.get(fixture)
            if key is None:
                key = known[fixture] = _fixture_route(*fixture)
            keys.append(key)
        else:
            keys.append(route_key_of(record))
    return keys


def _race_route(series: str, season: str, round_: int | None, name: str) -> str:
    return f"race|{'-'.join(words(series))}|{season}|{round_ or '-'.join(words(name))}"


def team_key(sport: str | None, name: str) -> str:
    """A spelling's normalized key (after pins and the alias table)."""
    return parse_team(sport, name)[0].key


def _fixture_route(sport: str | None, home: str | None, away: str | None, provider: str, pid: str) -> str:
    if sport and home and away:
        first, second = fixture_anchors(sport, home, away)
        return f"fx|{sport}|{first}|{second}"
    # Nothing to match on (e.g. a UOF message without its fixture): the provider's id is all we have.
    return f"px|{provider}|{pid}"


@dataclass
class Fixture:
    id: str
    start_ms: int
    refs: dict[str, str] = field(default_factory=dict)
    home: str | None = None  # display names: the registry's, else the first reporter's spelling (`_renamed`)
    away: str | None = None
    league: str | None = None
    # provider -> [home, away, league, swapped, first seen (receipt ms)] as that provider spells them (in the
    # fixture's orientation)
    spellings: dict[str, list[Any]] = field(default_factory=dict)  # provider -> [home, away, league, swapped, seen ms]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "start": self.start_ms, "refs": self.refs, "home": self.home, "away": self.away,
                "league": self.league, "spellings": self.spellings}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fixture:
        return cls(data["id"], int(data["start"]), dict(data["refs"]), data.get("home"), data.get("away"),
                   data.get("league"), dict(data.get("spellings") or {}))


class Fixtures(list[Fixture]):
    """A route's fixture list with an index by provider id: the common case (a provider's next record for a
    fixture it already reported) is one dict lookup however many fixtures share the route."""

    def __init__(self, items: list[Fixture] | None = None) -> None:
        super().__init__(items or [])
        self.by_ref = {(p, pid): f for f in self for p, pid in f.refs.items()}


class FixtureCache:
    """Parsed fixture lists by route, reused while the stored bytes are unchanged (a busy route is not
    re-parsed for every record). Bounded; a miss only costs a parse."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[bytes, tuple[bytes, list[Fixture]]] = OrderedDict()

    def get(self, route: bytes, stored: bytes | None) -> list[Fixture]:
        if not stored:
            return Fixtures()
        hit = self._items.get(route)
        if hit is not None and hit[0] == stored:
            self._items.move_to_end(route)
            return hit[1]
        fixtures = Fixtures([Fixture.from_dict(f) for f in orjson.loads(stored)])
        self.put(route, stored, fixtures)
        return fixtures

    def put(self, route: bytes, stored: bytes, fixtures: list[Fixture]) -> None:
        self._items[route] = (stored, fixtures if isinstance(fixtures, Fixtures) else Fixtures(fixtures))
        self._items.move_to_end(route)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, route: bytes) -> None:
        self._items.pop(route, None)


@dataclass(frozen=True)
class Candidate:
    """What a provider's record says about its fixture."""

    provider: str
    provider_event_id: str
    sport: str | None = None
    league: str | None = None
    home: str | None = None
    away: str | None = None
    start_ms: int | None = None
    seen_ms: int | None = None  # when we received the record (orders the fixture's reporters)


@dataclass
class Resolution:
    fixture: Fixture
    changed: bool  # the route's fixture list must be stored again
    swapped: bool = False  # the provider lists home and away the other way round
    confidence: float = 1.0
    review: dict[str, Any] | None = None  # for canonical.unmatched


def canonical_id(route: str, start_ms: int) -> str:
    """Deterministic, so a replay of the same records yields the same ids."""
    hour = start_ms // 3_600_000
    digest = hashlib.blake2b(f"{route}|{hour}".encode(), digest_size=10).hexdigest()
    return f"sf_{digest}"


def _names(fixture: Fixture, side: int) -> list[str]:
    spellings = [s[side] for s in fixture.spellings.values()]
    shown = fixture.home if side == 0 else fixture.away
    return [s for s in {*spellings, shown} if s]


def _side(sport: str | None, known: list[str], name: str) -> float:
    """How well `name` fits one side of a fixture: its best similarity with any spelling that side has had,
    0 when the team lists say they are different teams."""
    parsed = parse_team(sport, name)[0]
    return max((0.0 if listed_apart(sport, k, name) else team_similarity(parse_team(sport, k)[0], parsed)
                for k in known), default=0.0)


def score(fixture: Fixture, cand: Candidate, tolerance_ms: int) -> tuple[float, bool]:
    """(confidence in [0, 1] that `cand` reports `fixture`, whether home/away are swapped)."""
    timed = cand.start_ms is not None and fixture.start_ms != UNKNOWN_START
    if timed and abs(fixture.start_ms - (cand.start_ms or 0)) > tolerance_ms:
        return 0.0, False
    if not (cand.home and cand.away):
        return 0.0, False
    homes, aways = _names(fixture, 0), _names(fixture, 1)
    straight = min(_side(cand.sport, homes, cand.home), _side(cand.sport, aways, cand.away))
    if not timed:
        # Without both start times nothing tells this fixture from its return leg (the same teams the other
        # way round, on the same route): a match only the other way round is that other game, not a provider
        # listing home and away reversed. A provider already known to reverse them is found by its id.
        return _adjusted(straight, fixture, cand, timed, tolerance_ms), False
    swapped = min(_side(cand.sport, homes, cand.away), _side(cand.sport, aways, cand.home)) - SWAP_PENALTY
    confidence, is_swapped = (swapped, True) if swapped > straight else (straight, False)
    return _adjusted(confidence, fixture, cand, timed, tolerance_ms), is_swapped


def _adjusted(confidence: float, fixture: Fixture, cand: Candidate, timed: bool, tolerance_ms: int) -> float:
    """A name score lowered by the start time's distance and a clearly different competition."""
    if timed and tolerance_ms > 0:
        confidence *= 1.0 - TIME_PENALTY * abs(fixture.start_ms - (cand.start_ms or 0)) / tolerance_ms
    league = competition_similarity(fixture.league, cand.league)
    if league is not None and league < 0.6:
        confidence -= LEAGUE_PENALTY
    return max(0.0, round(confidence, 4))


def resolve(fixtures: list[Fixture], route: str, cand: Candidate, *, tolerance_ms: int) -> Resolution:
    """Find (or create) the fixture a provider's record belongs to."""
    known = resolve_known(fixtures, cand.provider, cand.provider_event_id)
    if known is not None:
        return known
    scored = sorted(
        ((*score(f, cand, tolerance_ms), f) for f in fixtures if cand.provider not in f.refs),
        key=lambda s: s[0], reverse=True,
    )
    considered = [s for s in scored if s[0] >= REVIEW_FLOOR]
    if considered and considered[0][0] >= MERGE_AT and (cand.start_ms is not None or len(considered) == 1
                                                       or considered[1][0] < MERGE_AT):
        confidence, swapped, best = considered[0]
        best.refs[cand.provider] = cand.provider_event_id
        if best.start_ms == UNKNOWN_START and cand.start_ms is not None:
            best.start_ms = cand.start_ms  # created from odds, which carry no start time
        if isinstance(fixtures, Fixtures):
            fixtures.by_ref[(cand.provider, cand.provider_event_id)] = best
        best.spellings[cand.provider] = _spelling(cand, swapped)
        _renamed(best, cand, swapped)
        review = _review("low_confidence", cand, best.id, considered) if confidence < SURE_AT else None
        return Resolution(best, True, swapped, confidence, review)
    created = _create(fixtures, route, cand)
    if considered:
        reason = "ambiguous" if considered[0][0] >= MERGE_AT else "below_threshold"
        return Resolution(created, True, review=_review(reason, cand, created.id, considered))
    # Nothing to compare with: the first sighting of a fixture, or a spelling that reaches no other provider's
    # route. Only the second is worth a look, and it can only be a name nothing knows (no team list, pin or
    # alias): a known name is spelled the same by every provider, so their records meet on this route.
    unknown = [n for n in (cand.home, cand.away) if not n or parse_team(cand.sport, n)[1] is None]
    if not unknown:
        return Resolution(created, True)
    review = _review("unmatched", cand, created.id, considered)
    review["unknownTeams"] = unknown
    return Resolution(created, True, review=review)


def resolve_known(fixtures: list[Fixture], provider: str, provider_event_id: str) -> Resolution | None:
    """The fixture a provider's id already belongs to, if any: `resolve`'s common case, without a `Candidate`."""
    known = _by_ref(fixtures, provider, provider_event_id)
    if known is None:
        return None
    spelled = known.spellings.get(provider)
    return Resolution(known, False, swapped=bool(spelled and len(spelled) > 3 and spelled[3]))


def _by_ref(fixtures: list[Fixture], provider: str, provider_event_id: str) -> Fixture | None:
    if isinstance(fixtures, Fixtures):
        return fixtures.by_ref.get((provider, provider_event_id))
    return next((f for f in fixtures if f.refs.get(provider) == provider_event_id), None)


def _spelling(cand: Candidate, swapped: bool) -> list[Any]:
    home, away = (cand.away, cand.home) if swapped else (cand.home, cand.away)
    return [home, away, cand.league, swapped, cand.seen_ms]


def _display(sport: str | None, name: str | None) -> str | None:
    return (parse_team(sport, name)[1] or name) if name else None


def _renamed(fixture: Fixture, cand: Candidate, swapped: bool) -> None:
    """Name the fixture after `cand`'s provider if it reported the fixture first (by receipt time, ties by
    provider name), though processed later.

    Without it the display names were those of whichever provider was *processed* first: two providers'
    first records a few milliseconds apart came out in either order in a live worker and in a replay (which
    reads by record time), so a replay re-published every record of such a fixture under the other names.
    A provider whose spelling has no receipt time (stored before it was kept) keeps the names it gave.
    """
    if cand.seen_ms is None:
        return
    mine = (cand.seen_ms, cand.provider)
    for provider, spelling in fixture.spellings.items():
        seen = spelling[4] if len(spelling) > 4 else None
        if provider != cand.provider and (seen is None or (seen, provider) < mine):
            return
    home, away = (cand.away, cand.home) if swapped else (cand.home, cand.away)
    fixture.home = _display(cand.sport, home) or fixture.home
    fixture.away = _display(cand.sport, away) or fixture.away
    fixture.league = cand.league or fixture.league


def fixture_identity(route: str, sport: str | None, home: str | None, away: str | None) -> str:
    """What a new fixture's id derives from: its route and both teams' normalized names, in either order.

    The route alone (sport and a short anchor per team) is shared by look-alikes ("Home A" and "Home B"
    both anchor at "hom"), so an id from the route and the hour alone would depend on which of them a
    worker saw first and would collide between workers and replays that saw them in another order.
    """
    if not (route.startswith("fx|") and home and away):
        return route
    first, second = sorted((team_key(sport, home), team_key(sport, away)))
    return f"{route}|{first}|{second}"


def _create(fixtures: list[Fixture], route: str, cand: Candidate) -> Fixture:
    new_id = canonical_id(fixture_identity(route, cand.sport, cand.home, cand.away), cand.start_ms or 0)
    if any(fixture.id == new_id for fixture in fixtures):
        # Same route, same hour, and that fixture is another game (this provider already holds it under
        # another id, or the teams differ): derive the id from the provider's own id as well.
        new_id = canonical_id(f"{route}|{cand.provider}|{cand.provider_event_id}", cand.start_ms or 0)
    created = Fixture(new_id, cand.start_ms or 0, {cand.provider: cand.provider_event_id},
                      _display(cand.sport, cand.home), _display(cand.sport, cand.away), cand.league,
                      {cand.provider: _spelling(cand, False)})
    fixtures.append(created)
    if isinstance(fixtures, Fixtures):
        fixtures.by_ref[(cand.provider, cand.provider_event_id)] = created
    return created


def _review(reason: str, cand: Candidate, assigned: str, considered: list[tuple[float, bool, Fixture]]
            ) -> dict[str, Any]:
    return {
        "type": "resolution_review", "reason": reason, "provider": cand.provider,
        "providerEventId": cand.provider_event_id, "sport": cand.sport, "league": cand.league,
        "homeTeam": cand.home, "awayTeam": cand.away, "startMs": cand.start_ms, "assignedId": assigned,
        "candidates": [
            {"id": f.id, "homeTeam": f.home, "awayTeam": f.away, "league": f.league, "startMs": f.start_ms,
             "refs": dict(f.refs), "confidence": conf, "swapped": swapped}
            for conf, swapped, f in considered[:5]
        ],
    }
