"""Ground truth and scoring for the accuracy harness (pure functions).

Truth is what the provider *served*: every successful simulator response, in order. Per entity
the expected versions are the distinct states served, except states older (by the provider's own
timestamp) than one already served — a stale snapshot must never move the stream backwards.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

State = tuple[Any, ...]


@dataclass
class Truth:
    """Expected state sequences per entity, built from served responses."""

    expected: dict[str, list[State]] = field(default_factory=lambda: defaultdict(list))
    _latest_ts: dict[str, str] = field(default_factory=dict)

    def served(self, entity: str, state: State, ts: str) -> None:
        if ts < self._latest_ts.get(entity, ""):
            return  # a stale snapshot: the pipeline must drop it
        self._latest_ts[entity] = ts
        sequence = self.expected[entity]
        if not sequence or sequence[-1] != state:
            sequence.append(state)

    def served_scores(self, body: list[dict[str, Any]]) -> None:
        for game in body:
            if game.get("scores") is None:
                continue
            by_name = {s["name"]: int(s["score"]) for s in game["scores"]}
            status = "final" if game["completed"] else "live"
            state = (by_name[game["home_team"]], by_name[game["away_team"]], status)
            self.served(f"event|{game['id']}", state, game.get("last_update") or "")

    def served_odds(self, body: list[dict[str, Any]]) -> None:
        markets = {"h2h": "moneyline", "spreads": "spread", "totals": "total"}
        for game in body:
            for book in game["bookmakers"]:
                for market in book["markets"]:
                    outcomes = tuple(sorted((o["name"], float(o["price"]), o.get("point"))
                                            for o in market["outcomes"]))
                    key = f"odds|{game['id']}|{book['key']}|{markets.get(market['key'], market['key'])}"
                    self.served(key, outcomes, market.get("last_update") or book.get("last_update") or "")


@dataclass
class Published:
    """Canonical records read back, de-duplicated by (entity key, seq)."""

    versions: dict[str, dict[int, State]] = field(default_factory=lambda: defaultdict(dict))
    redelivered: int = 0
    conflicting: int = 0

    def add(self, entity: str, seq: int, state: State | None) -> None:
        seen = self.versions[entity]
        if seq in seen:
            if seen[seq] == state:
                self.redelivered += 1  # same key + seq + content: an idempotent consumer ignores it
            else:
                self.conflicting += 1
            return
        seen[seq] = state


def names_to_sides(record: dict[str, Any]) -> State:
    sides = {"home": record.get("homeTeam"), "away": record.get("awayTeam"), "draw": "Draw", "over": "Over",
             "under": "Under"}
    return tuple(sorted((sides.get(o["side"], o["side"]), float(o["price"]), o.get("point"))
                        for o in record["outcomes"]))


@dataclass
class Score:
    expected: int = 0
    correct: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    seq_gaps: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.expected if self.expected else 1.0


def score(truth: Truth, published: Published) -> Score:
    result = Score()
    for entity, expected in truth.expected.items():
        versions = published.versions.get(entity, {})
        seqs = sorted(versions)
        result.seq_gaps += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        states = [versions[s] for s in seqs if versions[s] is not None]
        result.expected += len(expected)
        result.duplicated += sum(1 for a, b in itertools.pairwise(states) if a == b)
        # Walk both sequences: expected states must appear in order; anything else is wrong.
        i = 0
        for state in states:
            if state in expected[i:]:
                skipped = expected.index(state, i) - i
                result.lost += skipped  # expected states passed over without being published
                result.correct += 1
                i += skipped + 1
            elif state not in expected[:i]:
                result.wrong += 1  # never served, or out of order
        result.lost += len(expected) - i
    return result
