"""Discrepancies between matched providers: reported only when they persist, resolved when they end."""

from __future__ import annotations

import orjson

from agents.stages.discrepancy import observe, state_key
from agents.stages.precedence import Policy
from agents.stages.process import process_candidates
from schemas import topics

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


# Through stage 2 (`process_candidates`), states kept as bytes between messages as the worker keeps them.
POLICY = Policy({"default": ["sportradar", "apisports"]})
ROUTE = "fx|soccer|bayern-munchen|borussia-dortmund"


def fed(provider: str, game: str, home: int, away: int) -> dict:
    return {**event(provider, home, away), "id": f"{provider}:{game}", "providerEventId": game}


def stage_two(store: dict[str, bytes], fixtures: list, record: dict, received_ms: int, ttl_ms: int | None = None
              ) -> list[dict]:
    message = orjson.dumps({"source": f"{record['provider']}/live", "receivedMs": received_ms, "records": [record]})
    result = process_candidates(ROUTE, message, [], fixtures, lambda k: orjson.loads(store[k]) if k in store else None,
                                policy=POLICY, tolerance_ms=3_600_000, is_down=lambda _s: False, ttl_ms=ttl_ms,
                                discrepancy_grace_ms=GRACE)
    store.update({key: orjson.dumps(state) for key, state in result.entities.items()})
    return [orjson.loads(o.value) for o in result.outputs if o.topic == topics.DISCREPANCIES]


def opened(store: dict[str, bytes], fixtures: list) -> list[dict]:
    """Two providers disagree on the score past the grace period: the discrepancy is open (and reported)."""
    return (stage_two(store, fixtures, fed("sportradar", "sr1", 2, 1), 0)
            + stage_two(store, fixtures, fed("apisports", "as1", 1, 1), 1_000)
            + stage_two(store, fixtures, fed("sportradar", "sr1", 2, 1), 20_000))


def test_stage_two_keeps_one_state_per_event_with_its_discrepancies_in_it() -> None:
    store: dict[str, bytes] = {}
    fixtures: list = []
    found = opened(store, fixtures) + stage_two(store, fixtures, fed("apisports", "as1", 2, 1), 40_000)
    assert [(f["state"], f["field"]) for f in found] == [("open", "score"), ("resolved", "score")]
    assert len(store) == 1, "one entity state for the matched event, nothing under another key"


def test_a_discrepancy_kept_under_its_own_key_by_an_older_worker_is_still_resolved() -> None:
    store: dict[str, bytes] = {}
    fixtures: list = []
    opened(store, fixtures)
    (key, stored), = store.items()
    state = orjson.loads(stored)
    store[state_key(key)] = orjson.dumps(state.pop("d"))  # the layout before: its own key
    store[key] = orjson.dumps(state)
    found = stage_two(store, fixtures, fed("apisports", "as1", 2, 1), 40_000)
    assert [(f["state"], f["field"]) for f in found] == [("resolved", "score")]


def test_an_open_discrepancy_outlives_an_expired_lineage() -> None:
    store: dict[str, bytes] = {}
    fixtures: list = []
    opened(store, fixtures)
    found = stage_two(store, fixtures, fed("apisports", "as1", 2, 1), 200_000, ttl_ms=100_000)
    assert [(f["state"], f["field"]) for f in found] == [("resolved", "score")]
