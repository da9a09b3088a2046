"""Discrepancies between matched providers: reported only when they persist, resolved when they end."""

from __future__ import annotations

from agents.stages.discrepancy import observe

GRACE = 15_000


def event(provider: str, home: int | None, away: int | None, status: str = "live",
          start: str = "2024-11-30T17:30:00Z") -> dict:
    return {"type": "event", "id": "sf_1", "provider": provider, "sport": "soccer", "league": "Bundesliga",
            "homeTeam": "Bayern München", "awayTeam": "Borussia Dortmund", "score": {"home": home, "away": away},
            "status": status, "startTime": start}


def run(steps: list[tuple[int, dict]]) -> list[dict]:
    state, found = None, []
    for at, record in steps:
        new, out = observe(state, record, at, grace_ms=GRACE)
        state = new if new is not None else state
        found += out
    return found


def test_a_provider_a_few_seconds_behind_is_no_discrepancy() -> None:
    assert run([(0, event("sportradar", 1, 0)), (1_000, event("apisports", 0, 0)),
                (9_000, event("apisports", 1, 0)), (30_000, event("sportradar", 1, 0))]) == []


def test_a_lasting_disagreement_is_opened_then_resolved_with_both_values() -> None:
    found = run([(0, event("sportradar", 2, 1)), (1_000, event("apisports", 1, 1)),
                 (20_000, event("sportradar", 2, 1)), (25_000, event("theoddsapi", 2, 1)),
                 (40_000, event("apisports", 2, 1))])
    assert [(f["state"], f["field"]) for f in found] == [("open", "score"), ("resolved", "score")]
    opened = found[0]
    assert opened["values"] == {"apisports": {"home": 1, "away": 1}, "sportradar": {"home": 2, "away": 1}}
    assert opened["since"] == "1970-01-01T00:00:01.000Z"
    assert opened["reportedAt"]["apisports"] == "1970-01-01T00:00:01.000Z"
    assert (opened["id"], opened["homeTeam"]) == ("sf_1", "Bayern München")


def test_status_and_start_time_are_compared_too() -> None:
    found = run([(0, event("sportradar", 0, 0, "halftime", "2024-11-30T17:30:00Z")),
                 (1_000, event("apisports", 0, 0, "live", "2024-11-30T17:35:00Z")),
                 (20_000, event("sportradar", 0, 0, "halftime", "2024-11-30T17:30:00Z"))])
    assert {(f["state"], f["field"]) for f in found} == {("open", "status"), ("open", "startTime")}


def test_a_silent_provider_is_not_compared_and_repeats_change_nothing() -> None:
    state, _ = observe(None, event("apisports", 0, 0), 0, grace_ms=GRACE)
    assert state is not None
    new, out = observe(state, event("sportradar", 3, 0), 10 * 60_000, grace_ms=GRACE)
    assert out == []
    assert new is not None
    assert new["open"] == {}
    again, out = observe(new, event("sportradar", 3, 0), 10 * 60_000 + 1, grace_ms=GRACE)
    assert again is None
    assert out == []
