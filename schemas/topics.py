"""Topic names: the one place they are spelled out.

Raw topics are per provider (`raw.<provider>`); canonical topics are per record type.
"""

from __future__ import annotations

from typing import Final

EVENTS: Final = "canonical.events"
ODDS: Final = "canonical.odds"
RACE_RESULTS: Final = "canonical.race_results"
FEED_STATUS: Final = "canonical.feed_status"
# Market results, voids and their rollbacks (schemas.canonical.Settlement).
SETTLEMENTS: Final = "canonical.settlements"
DEADLETTER: Final = "deadletter"
# Entity-resolution review: new fixtures and low-confidence merges, with the candidates and scores.
UNMATCHED: Final = "canonical.unmatched"
# Matched providers disagreeing on a fixture's score, status or start time (agents/stages/discrepancy.py).
DISCREPANCIES: Final = "canonical.discrepancies"
# Providers' own team lists (schemas/reference.py), compacted: the latest record per provider team.
REFERENCE_TEAMS: Final = "reference.teams"
COMPACTED: Final = frozenset({REFERENCE_TEAMS})


def resolve_topic(app_id: str) -> str:
    """Internal: normalized candidates keyed by fixture, so one partition sees every provider's view of it."""
    return f"{app_id}.resolve"


def normalize_group(app_id: str) -> str:
    """The consumer group of the worker's stage 1 (raw topics); the app id itself is Faust's group (stage 2)."""
    return f"{app_id}-normalize"

CANONICAL_BY_TYPE: Final[dict[str, str]] = {
    "event": EVENTS,
    "odds": ODDS,
    "race_result": RACE_RESULTS,
    "feed_status": FEED_STATUS,
    "settlement": SETTLEMENTS,
}
CANONICAL_TOPICS: Final = tuple(CANONICAL_BY_TYPE.values())

# WebSocket channel of each canonical topic (the original engine's channel names).
CHANNEL_BY_TOPIC: Final[dict[str, str]] = {
    EVENTS: "live_scores",
    ODDS: "betting_odds",
    RACE_RESULTS: "race_results",
    FEED_STATUS: "feed_status",
    SETTLEMENTS: "settlements",
}

RAW_PREFIX: Final = "raw."


def raw_topic(provider: str) -> str:
    return f"{RAW_PREFIX}{provider}"


def provider_of_raw_topic(topic: str) -> str:
    if not topic.startswith(RAW_PREFIX):
        raise ValueError(f"not a raw topic: {topic!r}")
    return topic[len(RAW_PREFIX) :]

