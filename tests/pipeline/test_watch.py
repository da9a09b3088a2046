"""`sportsflow watch` prints a settlement as a line a person can read: results, voids, rollbacks."""

from __future__ import annotations

from pipeline.watch import settlement_line
from schemas.providers import normalize

URN = "sr:match:1"


def wire(xml: str, **update: object) -> list[dict]:
    return [{**r.to_wire(), **update} for r in normalize("sportradar", "uof", xml, {})]


def test_results_voids_and_rollbacks_read_as_lines() -> None:
    [total] = wire(f'<bet_settlement certainty="2" product="1" event_id="{URN}" timestamp="1700000000000"><outcomes>'
                   '<market id="18" specifiers="total=2.5"><outcome id="12" result="0" void_factor="0.5"/>'
                   '<outcome id="13" result="1" void_factor="0.5" dead_heat_factor="0.5"/></market></outcomes>'
                   "</bet_settlement>", seq=2)
    assert settlement_line(total) == ("sportradar total total=2.5 result (confirmed): over lost (0.5 void), "
                                      "under won (0.5 void) (dead heat 0.5) seq=2")
    [void] = wire(f'<bet_cancel product="1" event_id="{URN}" timestamp="1700000000001" end_time="1699999500000">'
                  '<market id="1" void_reason="12"/></bet_cancel>', seq=1)
    assert settlement_line(void) == (
        "sportradar moneyline void (INCORRECT_ODDS) bets placed ... to 2023-11-14T22:05:00.000Z seq=1")
    [undone] = wire(f'<rollback_bet_settlement product="1" event_id="{URN}" timestamp="1700000000002">'
                    '<market id="1"/></rollback_bet_settlement>', seq=3, replacesSeq=2)
    assert settlement_line(undone) == "sportradar moneyline result ROLLED BACK, reopen (replaces seq 2) seq=3"
