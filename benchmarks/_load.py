"""Synthetic provider updates for the throughput and latency benchmarks (The Odds API /scores format)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.envelope import RawEnvelope


def score_update(run: str, fixture: int, version: int, now: datetime | None = None,
                 updated_at: datetime | None = None) -> RawEnvelope:
    """Version `version` of fixture `fixture`: every version is a new score, so each one is published.

    `now`: when the connector received it; `updated_at`: the provider's own update time (default `now`).
    """
    now = now or datetime.now(UTC)
    updated = updated_at or now
    game: dict[str, Any] = {
        "id": f"{run}-{fixture}", "sport_key": "basketball_nba", "sport_title": "NBA",
        "commence_time": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "completed": False,
        "home_team": f"Home {run} {fixture}", "away_team": f"Away {run} {fixture}",
        "scores": [{"name": f"Home {run} {fixture}", "score": str(version)},
                   {"name": f"Away {run} {fixture}", "score": str(version // 2)}],
        "last_update": updated.strftime("%Y-%m-%dT%H:%M:%S.") + f"{updated.microsecond // 1000:03d}Z",
    }
    return RawEnvelope(provider="theoddsapi", feed="scores", key=game["id"], payload=[game], received_at=now)
