"""Ground truth and scoring for the accuracy harness (pure functions).

Truth is what the providers *served*: every successful simulator response, in order. Odds: per
entity the expected versions are the distinct states served, except states older (by the provider's
own timestamp) than one already served — a stale snapshot must never move the stream backwards.
Events (one real fixture, whichever providers serve it): every distinct score-and-status state ANY
provider served, in the match's own order (scores only grow, the status only advances), so a state
first served by a slower or lower-ranked provider counts as much as one from the best; a state
behind one already served (an out-of-order or a lagging provider's snapshot) is not expected.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

State = tuple[Any, ...]


@dataclass
class Truth:
    """Expected state sequences per entity, built from served responses."""

    expected: dict[str, list[State]] = field(default_factory=lambda: defaultdict(list))
    ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (provider, its event id) -> match id
    incomparable: int = 0  # event states neither before nor after the last one (a broken world)
    # Who first served each expected state and when (s since the truth began): where to look when one is lost.
    origin: dict[tuple[str, State], tuple[str, float]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _latest_ts: dict[str, str] = field(default_factory=dict)

    def served(self, entity: str, state: State, ts: str) -> None:
        if ts < self._latest_ts.get(entity, ""):
            return  # a stale snapshot: the pipeline must drop it
        self._latest_ts[entity] = ts
        sequence = self.expected[entity]
        if not sequence or sequence[-1] != state:
            sequence.append(state)

    def served_event(self, match: str, state: State, source: str = "") -> None:
        """`source` served `state` (home, away, status) of real fixture `match`."""
        entity = f"event|{match}"
        sequence = self.expected[entity]
        if not sequence or not _moves_back(sequence[-1], state):  # nothing in it is behind the last state
            if not sequence or state != sequence[-1]:
                sequence.append(state)
                self.origin.setdefault((entity, state), (source, round(time.monotonic() - self.started, 3)))
        elif _moves_back(state, sequence[-1]):  # behind in one thing, ahead in another
            self.incomparable += 1
        # else: behind the last state served (stale), not expected again

    def served_scores(self, body: list[dict[str, Any]]) -> None:
        for game in body:
            if game.get("scores") is None:
                continue
            by_name = {s["name"]: int(s["score"]) for s in game["scores"]}
            status = "final" if game["completed"] else "live"
            state = (by_name[game["home_team"]], by_name[game["away_team"]], status)
            self.served_event(self.ids.get(("theoddsapi", game["id"]), game["id"]), state, "theoddsapi/scores")

    def served_odds(self, body: list[dict[str, Any]]) -> None:
        markets = {"h2h": "moneyline", "spreads": "spread", "totals": "total"}
        for game in body:
            # Prices are audited by side (home, away, draw, over, under), not by the name a record shows:
            # display names are the resolver's business (and a fixture's first provider's spelling).
            sides = {game["home_team"]: "home", game["away_team"]: "away"}
            for book in game["bookmakers"]:
                for market in book["markets"]:
                    outcomes = tuple(sorted((sides.get(o["name"], o["name"].lower()), float(o["price"]),
                                             o.get("point")) for o in market["outcomes"]))
                    key = f"odds|{game['id']}|{book['key']}|{markets.get(market['key'], market['key'])}"
                    self.served(key, outcomes, market.get("last_update") or book.get("last_update") or "")


@dataclass(frozen=True)
class Version:
    state: State | None  # what the truth compares (score + status, or prices); None: no score yet
    content: str  # the full content's hash (agents.stages.ordering.content_hash): what a consumer sees
    correction: bool = False
    source: str = ""  # the record's `source` (provider/feed whose candidate made it)


@dataclass
class Published:
    """Canonical records read back, per entity and version (epoch, seq)."""

    versions: dict[str, dict[tuple[int, int], Version]] = field(default_factory=lambda: defaultdict(dict))
    redelivered: int = 0
    conflicting: int = 0  # one (entity, epoch, seq) naming two contents: the invariant broken
    conflicts: list[str] = field(default_factory=list)  # a few of them, to look into

    def add(self, entity: str, version: tuple[int, int], state: State | None, content: str = "",
            correction: bool = False, source: str = "") -> None:
        seen = self.versions[entity]
        found = seen.get(version)
        if found is not None:
            if found.content == content and found.state == state:
                self.redelivered += 1  # same key + version + content: an idempotent consumer ignores it
            else:
                self.conflicting += 1
                if len(self.conflicts) < 20:
                    self.conflicts.append(f"{entity} {version}: {found.state} then {state} (correction "
                                          f"{found.correction} then {correction})")
            return
        seen[version] = Version(state, content or repr(state), correction, source)


def by_side(record: dict[str, Any]) -> State:
    """A canonical odds record's prices as the truth holds them: (side, price, point), sorted."""
    return tuple(sorted((o["side"], float(o["price"]), o.get("point")) for o in record["outcomes"]))


@dataclass
class Score:
    expected: int = 0
    correct: int = 0
    lost: int = 0
    duplicated: int = 0  # consecutive versions with the same content: a version published for nothing
    wrong: int = 0
    seq_gaps: int = 0  # versions missing inside a lineage (seq jumped)
    lineages: int = 0  # lineages beyond the first per entity (a new epoch: consumers must resync)
    backwards: int = 0  # a score or status moving back without `correction`
    # A state superseded in the truth published again after a newer one (with or without `correction`): the
    # harness's providers never take a state back, so there is nothing a correction could mend.
    regressed: int = 0
    corrections: int = 0  # versions flagged `correction`
    lost_by_entity: dict[str, int] = field(default_factory=dict)  # where the losses are (sport, feed, time)
    lost_by_tenth: list[int] = field(default_factory=lambda: [0] * 10)  # ... and how far into the entity's life
    examples: dict[str, str] = field(default_factory=dict)  # a few entities per kind of failure, to look into
    # Each state lost (up to 30): who served it and when, and what was published either side of the hole.
    lost_states: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.expected if self.expected else 1.0

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.wrong == self.seq_gaps == self.backwards == self.regressed == 0


_STATUS = {"scheduled": 0, "live": 1, "final": 2}


def _moves_back(old: State | None, new: State | None) -> bool:
    """Event states are (home, away, status): a score that drops or a status that goes back."""
    if old is None or new is None or len(old) != 3 or len(new) != 3 or not isinstance(old[0], int):
        return False
    return new[0] < old[0] or new[1] < old[1] or _STATUS.get(new[2], 0) < _STATUS.get(old[2], 0)


def audit(versions: dict[tuple[int, int], Version], result: Score) -> list[Version]:
    """Check one entity's versions (gaps, lineages, duplicates, backwards moves); return them in order."""
    ordered = [versions[v] for v in sorted(versions)]
    epochs: dict[int, list[int]] = defaultdict(list)
    for epoch, seq in sorted(versions):
        epochs[epoch].append(seq)
    result.lineages += max(len(epochs) - 1, 0)
    gaps = sum(seqs[-1] - len(seqs) for seqs in epochs.values())  # each lineage counts from 1
    if gaps and len(result.examples) < 6:
        result.examples[f"gap:{len(result.examples)}"] = repr(dict(epochs))
    result.seq_gaps += gaps
    for a, b in itertools.pairwise(ordered):
        result.duplicated += a.content == b.content
        result.backwards += _moves_back(a.state, b.state) and not b.correction
    return ordered


def _describe_hole(truth: Truth, entity: str, lost: list[State], stated: list[Version], after: int,
                   result: Score) -> None:
    """One line per lost state: its origin, and the versions published just before and after the hole."""
    def origin(state: State | None) -> str:
        source, at = truth.origin.get((entity, state), ("?", -1.0)) if state is not None else ("?", -1.0)
        return f"served by {source or '?'} at {at}s"

    before = stated[after - 1] if after else None
    for state in lost:
        if len(result.lost_states) < 30:
            result.lost_states.append(
                f"{entity}: {state} {origin(state)}; published before it "
                f"{before.state if before else None} (from {before.source if before else '-'}), after it "
                f"{stated[after].state} (from {stated[after].source}, {origin(stated[after].state)})")


def score(truth: Truth, published: Published) -> Score:
    result = Score()
    for entity, expected in truth.expected.items():
        ordered = audit(published.versions.get(entity, {}), result)
        result.corrections += sum(v.correction for v in ordered)
        stated = [v for v in ordered if v.state is not None]
        states = [v.state for v in stated]
        result.expected += len(expected)
        # Walk both sequences: expected states must appear in order; anything else is wrong.
        i = 0
        for state in states:
            if state in expected[i:]:
                skipped = expected.index(state, i) - i
                result.lost += skipped  # expected states passed over without being published
                if skipped:
                    _describe_hole(truth, entity, expected[i:i + skipped], stated, states.index(state), result)
                if skipped and len(result.examples) < 6:
                    result.examples[f"skipped:{entity}"] = f"expected {expected} published {states}"
                result.correct += 1
                i += skipped + 1
            elif state in expected[:max(i - 1, 0)]:
                result.regressed += 1
                if len(result.examples) < 6:
                    result.examples[f"regressed:{entity}"] = f"expected {expected} published {states}"
            elif state not in expected[:i]:
                result.wrong += 1  # never served, or out of order
        result.lost += len(expected) - i
        missing = [j for j, s in enumerate(expected) if s not in states]
        if missing:
            result.lost_by_entity[entity] = len(missing)
            for j in missing:
                result.lost_by_tenth[10 * j // len(expected)] += 1
        if i < len(expected) and len(result.examples) < 6:
            result.examples[f"lost:{entity}"] = f"expected {expected} published {states}"
    return result
