"""Synthetic provider updates for the throughput and latency benchmarks (The Odds API /scores format)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.envelope import RawEnvelope


def team(n: int, run: str) -> str:
    """Team `n` of a run, its first word starting with three letters of its own (`n` < 17,576).

    Stage 2's route key is built from the teams' three-letter anchors: like real fixtures, every
    fixture of the load has a route of its own, so the fixtures spread over the resolve partitions
    and a route's fixture list holds one fixture (names such as "Home <run> <n>" all shared one
    route, "hom|awa": one resolve partition, and a fixture list as long as the run).
    """
    letters = "".join(chr(ord("a") + (n // 26 ** k) % 26) for k in (2, 1, 0))
    return f"{letters.capitalize()}{run} {n}"


def score_update(run: str, fixture: int, version: int, now: datetime | None = None,
                 updated_at: datetime | None = None) -> RawEnvelope:
    """Version `version` of fixture `fixture`: every version is a new score, so each one is published.

    `now`: when the connector received it; `updated_at`: the provider's own update time (default `now`).
    """
    now = now or datetime.now(UTC)
    updated = updated_at or now
    home, away = team(2 * fixture, run), team(2 * fixture + 1, run)
    game: dict[str, Any] = {
        "id": f"{run}-{fixture}", "sport_key": "basketball_nba", "sport_title": "NBA",
        "commence_time": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "completed": False,
        "home_team": home, "away_team": away,
        "scores": [{"name": home, "score": str(version)}, {"name": away, "score": str(version // 2)}],
        "last_update": updated.strftime("%Y-%m-%dT%H:%M:%S.") + f"{updated.microsecond // 1000:03d}Z",
    }
    return RawEnvelope(provider="theoddsapi", feed="scores", key=game["id"], payload=[game], received_at=now)
