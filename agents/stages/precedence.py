"""Per-field precedence: which source each *field group* of an entity follows, as pure functions.

Providers are good at different things: one has the fastest scores, another the official start
time, a third only odds. So precedence is decided per field group, not per record:

    event        live     score, status, period, clock
                 fixture  league, homeTeam, awayTeam, startTime, sport
    other types  all      every data field (odds are already one entity per bookmaker + market)

A source *carries* a group when its record holds real values for it (an odds feed's event has no
score, so it never carries `live`). Only a carrier can become a group's followed source; a source
that lacks a group never takes it over, however long the followed one is silent. Failover and the
hysteresis on return work per group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STATUS_RANK: Mapping[str, int] = {
    "scheduled": 0, "postponed": 0, "delayed": 0,
    "live": 1, "halftime": 1, "suspended": 1,
    "final": 2, "cancelled": 2, "abandoned": 2,
}
LIVE, FIXTURE, ALL = "live", "fixture", "all"


@dataclass(frozen=True)
class Policy:
    priorities: Mapping[str, Sequence[str]]  # sport (or "default") -> ["provider" | "provider/feed", ...]
    stale_ms: int = 60_000
    hysteresis_ms: int = 30_000
    # How long the followed source may keep reporting less than what another source published
    # (it is lagging) before its values are taken as a correction.
    confirm_ms: int = 30_000
    # rank() answers by (source, sport): it is asked for every candidate and the answer never changes.
    _ranks: dict[tuple[str, str | None], int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def rank(self, source: str, sport: str | None) -> int:
        known = self._ranks.get((source, sport))
        if known is None:
            known = self._ranks[(source, sport)] = self._rank(source, sport)
        return known

    def _rank(self, source: str, sport: str | None) -> int:
        order = self.priorities.get(sport or "", self.priorities.get("default", ()))
        provider = source.split("/", 1)[0]
        for i, entry in enumerate(order):
            if entry in {source, provider}:
                return i
        return len(order)


@dataclass(frozen=True)
class Group:
    name: str
    fields: tuple[str, ...]  # empty: every data field of the record
    carried: Callable[[Mapping[str, Any]], bool]


def _carries_live(record: Mapping[str, Any]) -> bool:
    score = record.get("score")
    has_score = isinstance(score, dict) and score.get("home") is not None and score.get("away") is not None
    return has_score or record.get("period") is not None or record.get("clock") is not None


GROUPS: Mapping[str, tuple[Group, ...]] = {
    "event": (Group(LIVE, ("score", "status", "period", "clock"), _carries_live),
              Group(FIXTURE, ("league", "homeTeam", "awayTeam", "startTime", "sport"), lambda _r: True)),
}
_WHOLE = (Group(ALL, (), lambda _r: True),)


def groups_of(record_type: str) -> tuple[Group, ...]:
    return GROUPS.get(record_type, _WHOLE)


def group_values(group: Group, record: Mapping[str, Any], meta: frozenset[str]) -> dict[str, Any]:
    if group.fields:
        return {f: record[f] for f in group.fields if f in record}
    return {k: v for k, v in record.items() if k not in meta}


def new_group() -> dict[str, Any]:
    return {"source": None, "failoverFrom": None, "ts": 0, "pending": None}


def choose(group: dict[str, Any], name: str, sources: Mapping[str, Any], source: str, received_ms: int, *,
           policy: Policy, sport: str | None, is_down: Callable[[str], bool]) -> str:
    """The source this group follows after `source` delivered it (mutates `failoverFrom`)."""
    current: str | None = group["source"]
    if current is None or current == source:
        return source

    def seen(src: str) -> int:
        return int(sources.get(src, {}).get("g", {}).get(name, 0))

    mine, theirs = policy.rank(source, sport), policy.rank(current, sport)
    current_down = is_down(current) or received_ms - seen(current) > policy.stale_ms
    if mine < theirs:
        if group.get("failoverFrom") == source:
            since = sources[source]["since"]
            if (received_ms - since >= policy.hysteresis_ms and not is_down(source)) or current_down:
                group["failoverFrom"] = None
                return source
            return current
        return source
    if current_down:
        if theirs < mine:
            group["failoverFrom"] = current
        return source
    return current


def fill(mine: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """`mine` with the values it does not know (null, or a score of nulls) kept from `current`."""
    filled = dict(current)  # keys keep current's order, then mine's new ones: the published key order
    for key, value in mine.items():
        # Unknown: null, or a dict of nulls (a score of nulls). Inline: this runs for every field of every group.
        unknown = value is None or (isinstance(value, dict) and all(v is None for v in value.values()))
        if not unknown or key not in current:
            filled[key] = value
    return filled


def score_of(values: Mapping[str, Any]) -> tuple[int, int] | None:
    score = values.get("score")
    if isinstance(score, dict) and score.get("home") is not None and score.get("away") is not None:
        return int(score["home"]), int(score["away"])
    return None


def regressed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """The new live values move a score or the status backwards."""
    if new.get("status") is not None and \
            STATUS_RANK.get(new["status"], 0) < STATUS_RANK.get(old.get("status") or "", 0):
        return True
    a, b = score_of(old), score_of(new)
    return a is not None and b is not None and (b[0] < a[0] or b[1] < a[1])


def progress(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `new` that is forward progress over `old` (empty if none, or if anything regressed).

    Forward progress: a score that only moves forward, or a status that advances (live -> final).
    """
    if regressed(old, new):
        return {}
    ahead: dict[str, Any] = {}
    a, b = score_of(old), score_of(new)
    if b is not None and (a is None or b != a):
        ahead.update(score=new["score"], period=new.get("period") or old.get("period"),
                     clock=new.get("clock") or old.get("clock"))
    if new.get("status") is not None and \
            STATUS_RANK.get(new["status"], 0) > STATUS_RANK.get(old.get("status") or "", 0):
        ahead["status"] = new["status"]
    return ahead


def behind_or_equal(new: Mapping[str, Any], fresh: Mapping[str, Any]) -> bool:
    """`new` is consistent with a source that has not caught up with `fresh` yet."""
    a, b = score_of(fresh), score_of(new)
    if a is not None and b is not None and (b[0] > a[0] or b[1] > a[1]):
        return False
    return STATUS_RANK.get(new.get("status") or "", 0) <= STATUS_RANK.get(fresh.get("status") or "", 0)
