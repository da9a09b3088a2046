"""Settlements through both worker stages as pure functions: UOF XML bytes in, canonical.settlements out.

A result, its rollback and a recovery that sends both again: two versions, the rollback a correction of
the result, nothing doubled. No Kafka: the tables are dicts.
"""

from __future__ import annotations

from typing import Any

import orjson

from agents.stages.normalize import process_raw
from agents.stages.ordering import Policy
from agents.stages.process import process_candidates
from agents.stages.resolve import Fixture
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.timeutil import from_epoch_ms

POLICY = Policy({"default": ["sportradar"]})
FIXTURE = {"home_team": "Arsenal FC", "away_team": "Chelsea FC", "start_time": "2025-01-15T17:00:00Z",
           "sport": "soccer", "league": "Premier League"}
URN = "sr:match:42"

SETTLED = (f'<bet_settlement certainty="1" product="1" event_id="{URN}" timestamp="1736960000000"><outcomes>'
           '<market id="1"><outcome id="1" result="1"/><outcome id="2" result="0"/><outcome id="3" result="0"/>'
           '</market><market id="18" specifiers="total=2.5"><outcome id="12" result="0"/>'
           '<outcome id="13" result="1"/></market></outcomes></bet_settlement>')
CONFIRMED = SETTLED.replace('certainty="1"', 'certainty="2"').replace("1736960000000", "1736960060000")
ROLLBACK = (f'<rollback_bet_settlement product="1" event_id="{URN}" timestamp="1736960120000">'
            '<market id="1"/></rollback_bet_settlement>')
CANCEL = (f'<bet_cancel product="1" event_id="{URN}" timestamp="1736960180000" start_time="1736950000000" '
          'end_time="1736950600000"><market id="18" specifiers="total=2.5" void_reason="12"/></bet_cancel>')
UNCANCEL = (f'<rollback_bet_cancel product="1" event_id="{URN}" timestamp="1736960240000" '
            'start_time="1736950000000" end_time="1736950600000"><market id="18" specifiers="total=2.5"/>'
            '</rollback_bet_cancel>')


class Worker:
    """Stage 1 then stage 2 with dict tables, as `agents/worker.py` wires them."""

    def __init__(self) -> None:
        self.fixtures: dict[bytes, list[Fixture]] = {}
        self.entities: dict[str, dict[str, Any]] = {}
        self.published: list[dict[str, Any]] = []
        self.received_ms = 1_736_960_000_000

    def deliver(self, xml: str) -> list[dict[str, Any]]:
        self.received_ms += 1000
        value = RawEnvelope(provider="sportradar", feed="uof", key=URN, params=FIXTURE, payload=xml,
                            content_type="xml", received_at=from_epoch_ms(self.received_ms)).to_json()
        stage_one = process_raw("raw.sportradar", 0, 0, value, [])
        assert stage_one.dead_letter is None, stage_one.dead_letter
        out = []
        for candidate in stage_one.records:
            fixtures = self.fixtures.setdefault(candidate.key, [])
            result = process_candidates(candidate.key.decode(), candidate.value, [], fixtures, self.entities.get,
                                        policy=POLICY, tolerance_ms=3_600_000, is_down=lambda _s: False)
            self.entities.update(result.entities)
            out += [orjson.loads(o.value) for o in result.outputs if o.topic == topics.SETTLEMENTS]
        self.published += out
        return out


def test_a_result_then_its_rollback_are_two_versions_the_second_a_correction() -> None:
    worker = Worker()
    first = worker.deliver(SETTLED)
    assert [(r["market"], r["kind"], r["seq"], r["correction"]) for r in first] == [
        ("moneyline", "result", 1, False), ("total", "result", 1, False)]
    moneyline = first[0]
    assert [(o["side"], o["result"]) for o in moneyline["outcomes"]] == [
        ("home", "won"), ("draw", "lost"), ("away", "lost")]
    assert moneyline["certainty"] == "live"
    assert moneyline["homeTeam"] == "Arsenal FC"  # resolved like the odds: the fixture's id and names
    assert moneyline["eventId"].startswith("sf_")

    confirmed = worker.deliver(CONFIRMED)  # the official result confirms the scouted one: not a correction
    assert [(r["market"], r["seq"], r["certainty"], r["correction"]) for r in confirmed] == [
        ("moneyline", 2, "confirmed", False), ("total", 2, "confirmed", False)]

    [rollback] = worker.deliver(ROLLBACK)
    assert (rollback["market"], rollback["rolledBack"], rollback["outcomes"]) == ("moneyline", True, [])
    assert (rollback["seq"], rollback["correction"], rollback["replacesSeq"]) == (3, True, 2)
    assert rollback["eventId"] == moneyline["eventId"]


def test_a_recovery_that_sends_everything_again_publishes_nothing_twice() -> None:
    worker = Worker()
    for xml in (SETTLED, ROLLBACK, CANCEL, UNCANCEL):
        worker.deliver(xml)
    before = list(worker.published)
    for xml in (SETTLED, ROLLBACK, CANCEL, UNCANCEL):  # UOF recovery: the same messages, in the same order
        assert worker.deliver(xml) == []
    assert worker.published == before
    voids = [r for r in before if r["kind"] == "void"]
    assert [(r["rolledBack"], r["correction"], r["voidReason"]) for r in voids] == [
        (False, False, "INCORRECT_ODDS"), (True, True, "INCORRECT_ODDS")]
    assert voids[0]["voidFrom"] == "2025-01-15T14:06:40.000Z"


def test_a_void_range_is_its_own_entity_beside_the_result() -> None:
    """A void of the bets placed in a window and the result of the others both stand."""
    worker = Worker()
    worker.deliver(SETTLED)
    [void] = worker.deliver(CANCEL)
    assert (void["market"], void["specifiers"], void["seq"], void["correction"]) == ("total", "total=2.5", 1, False)
