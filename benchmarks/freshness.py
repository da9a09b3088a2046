"""Freshness: time from a score change reaching the fastest source to Sportsflow publishing it.

    python -m benchmarks.freshness --matches 200

The scenario of issue 13, on simulated clocks (no Kafka: stage 2's `decide` is a pure function,
so this measures its rule, not the machine): each match is served by API-Sports (the followed
source, better ranked, polled every 15 s, current when polled) and by The Odds API's scores feed
(polled every second, `--lag-s` behind the match). For every score state the match goes through,
it reports when the fastest source first served it, when the followed source did (what a
followed-source-only rule publishes at best), and when Sportsflow published it; plus states
published out of states served, and correction records.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agents.stages.ordering import Decision, Policy, decide
from schemas.timeutil import iso_z

FOLLOWED, FAST = "apisports/games", "theoddsapi/scores"
POLICY = Policy({"default": ["apisports", "theoddsapi/scores"]})
BASE_MS = 1_767_000_000_000


@dataclass
class Match:
    changes: list[tuple[int, tuple[int, int]]]  # (time ms since kick-off, score from then on)

    def score_at(self, t_ms: int) -> tuple[int, int]:
        current = (0, 0)
        for at, score in self.changes:
            if at <= t_ms:
                current = score
        return current


def make_match(rng: random.Random, duration_ms: int) -> Match:
    score, changes = (0, 0), [(0, (0, 0))]
    for at in sorted(rng.randrange(1000, duration_ms - 60_000) for _ in range(rng.randint(2, 8))):
        score = (score[0] + 1, score[1]) if rng.random() < 0.5 else (score[0], score[1] + 1)
        changes.append((at, score))
    return Match(changes)


def record(score: tuple[int, int], t_ms: int, provider: str) -> dict[str, Any]:
    stamp = iso_z(to_utc_ms(t_ms))
    return {"type": "event", "id": "sf_x", "sport": "soccer", "league": "EPL", "homeTeam": "A", "awayTeam": "B",
            "startTime": iso_z(to_utc_ms(0)), "provider": provider, "providerEventId": "p", "status": "live",
            "score": {"home": score[0], "away": score[1]}, "sourceTimestamp": stamp, "timestamp": stamp}


def to_utc_ms(t_ms: int) -> datetime:
    return datetime.fromtimestamp((BASE_MS + t_ms) / 1000, tz=UTC)


def play(match: Match, duration_ms: int, lag_ms: int, slow_every_ms: int, phase_ms: int) -> dict[str, Any]:
    polls: list[tuple[int, str, tuple[int, int], int]] = []  # (received, source, score, source time)
    for t in range(phase_ms, duration_ms, slow_every_ms):
        polls.append((t, FOLLOWED, match.score_at(t), t))
    for t in range(0, duration_ms, 1000):
        polls.append((t, FAST, match.score_at(t - lag_ms), t - lag_ms))
    polls.sort(key=lambda p: (p[0], p[1] == FOLLOWED))
    state: dict[str, Any] | None = None
    first_served: dict[tuple[int, int], int] = {}
    followed_served: dict[tuple[int, int], int] = {}
    published: dict[tuple[int, int], int] = {}
    corrections = 0
    for received, source, score, source_ms in polls:
        first_served.setdefault(score, received)
        if source == FOLLOWED:
            followed_served.setdefault(score, received)
        decision: Decision = decide(record(score, source_ms, source.split("/")[0]), state, source,
                                    BASE_MS + received, policy=POLICY)
        state = decision.state
        if decision.publish is not None:
            out = decision.publish["score"]
            published.setdefault((out["home"], out["away"]), received)
            corrections += bool(decision.publish["correction"])
    states = [score for _, score in match.changes]
    return {"states": states, "first": first_served, "followed": followed_served, "published": published,
            "corrections": corrections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matches", type=int, default=200)
    parser.add_argument("--lag-s", type=float, default=3.0, help="how far the fast feed is behind the match")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    duration_ms = 20 * 60_000
    ours, followed_only = [], []
    served = published = corrections = 0
    for _ in range(args.matches):
        match = make_match(rng, duration_ms)
        run = play(match, duration_ms, int(args.lag_s * 1000), 15_000, rng.randrange(0, 15_000))
        corrections += run["corrections"]
        for score in run["states"][1:]:
            first = run["first"].get(score)
            if first is None:
                continue  # a state no source served (it lasted less than a poll)
            served += 1
            if score in run["published"]:
                published += 1
                ours.append(run["published"][score] - first)
            if score in run["followed"]:
                followed_only.append(run["followed"][score] - first)

    def summary(delays: list[int]) -> dict[str, float]:
        delays = sorted(delays)
        return {"p50_s": round(statistics.median(delays) / 1000, 2),
                "p95_s": round(delays[int(0.95 * (len(delays) - 1))] / 1000, 2),
                "max_s": round(delays[-1] / 1000, 2)}

    print(json.dumps({
        "matches": args.matches, "score_states_served": served, "published": published,
        "correction_records": corrections, "sportsflow_delay_vs_fastest_source": summary(ours),
        "followed_source_only_delay_vs_fastest_source": summary(followed_only),
        "followed_source_only_states_seen": len(followed_only),
    }, indent=2))


if __name__ == "__main__":
    main()
