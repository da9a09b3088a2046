"""Pure unit tests of the record -> DynamoDB items mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from schemas.canonical import Event, Odds, Outcome, RaceResult, Score, SettledOutcome, Settlement
from sinks.dynamodb import STATE_SK, is_newer, newest_per_key, parse_tolerant, record_items, version_sk

NOW = 1_700_000_000
START = datetime(2025, 3, 16, 4, 0, tzinfo=UTC)


def event(seq: int = 3, ts: datetime = START, **kw) -> Event:
    return Event(id="ev1", sport="basketball", league="NBA", home_team="A", away_team="B", score=Score(home=1, away=2),
                 status="live", start_time=START, provider_event_id="p1", provider="sportsdataio", timestamp=ts,
                 seq=seq, **kw)


def odds(seq: int = 2) -> Odds:
    return Odds(event_id="ev1", provider_event_id="p1", bookmaker="fanduel", market="moneyline", provider="theoddsapi",
                outcomes=[Outcome(side="home", price=1.9)], timestamp=START, seq=seq)


def test_event_state_item_has_keys_gsi_and_the_record():
    """An event's state item is EVENT#<id>/STATE, indexed by sport and start day, and holds the wire record."""
    items = record_items(event(), now_s=NOW, ttl_days=30)
    state = items.state
    assert (state["pk"]["S"], state["sk"]["S"]) == ("EVENT#ev1", STATE_SK)
    assert state["gsi1pk"]["S"] == "SPORT#basketball#2025-03-16"
    assert state["gsi1sk"]["S"] == "2025-03-16T04:00:00.000Z#ev1"
    assert state["seq"]["N"] == "3"
    assert orjson.loads(state["record"]["S"])["homeTeam"] == "A"
    assert "expiresAt" not in state


def test_history_item_has_version_key_and_ttl():
    """History items are V#<zero-padded epoch>#<zero-padded seq> with expiresAt = now + ttl_days, out of the GSI."""
    history = record_items(event(seq=42), now_s=NOW, ttl_days=30).history
    assert history["pk"]["S"] == "EVENT#ev1"
    assert history["sk"]["S"] == "V#0000000000000#000000000042"
    assert history["expiresAt"]["N"] == str(NOW + 30 * 86400)
    assert "gsi1pk" not in history


def test_unsequenced_versions_do_not_collide():
    """Records not yet sequenced (seq 0) get their time in the version key, so two versions stay apart."""
    first = record_items(event(seq=0, ts=START), now_s=NOW, ttl_days=1).history["sk"]["S"]
    later_ts = datetime(2025, 3, 16, 5, tzinfo=UTC)
    later = record_items(event(seq=0, ts=later_ts), now_s=NOW, ttl_days=1).history["sk"]["S"]
    assert first != later
    assert first < later < version_sk(0, 1, 0)


def test_odds_items_group_markets_under_the_event():
    """Current odds sit under ODDS#<eventId> with one sort key per bookmaker and market; history per market."""
    items = record_items(odds(), now_s=NOW, ttl_days=7)
    assert (items.state["pk"]["S"], items.state["sk"]["S"]) == ("ODDS#ev1", "ODDS#fanduel#moneyline")
    assert (items.history["pk"]["S"], items.history["sk"]["S"]) == (
        "ODDS#ev1#fanduel#moneyline", "V#0000000000000#000000000002")


def test_race_result_items():
    """Race results are RACE#<id>/STATE and share the sport/day index."""
    race = RaceResult(id="r1", series="F1", season="2025", name="GP", start_time=START, status="final",
                      provider_event_id="x", provider="jolpica", timestamp=START, seq=1)
    state = record_items(race, now_s=NOW, ttl_days=1).state
    assert state["pk"]["S"] == "RACE#r1"
    assert state["gsi1pk"]["S"] == "SPORT#motorsport#2025-03-16"
    assert state["league"]["S"] == "F1"


def test_newest_per_key_keeps_the_highest_version():
    """Within a batch only the newest version of each entity is written as state."""
    items = [record_items(event(seq=s), now_s=NOW, ttl_days=1) for s in (5, 9, 7)]
    [kept] = newest_per_key(items)
    assert kept.state["seq"]["N"] == "9"


def test_parse_tolerant_keeps_fields_it_does_not_know():
    """A newer producer's extra field does not stop the sink, and the stored wire form keeps it."""
    wire = {**odds().to_wire(), "futureField": "from a newer schema"}
    record, kept = parse_tolerant(orjson.dumps(wire))
    assert record == odds()
    items = record_items(record, now_s=NOW, ttl_days=1, wire=kept)
    assert orjson.loads(items.state["record"]["S"])["futureField"] == "from a newer schema"


def test_one_history_row_per_epoch_and_seq():
    """seq 1 of two lineages are two rows: a new lineage never overwrites another's history."""
    one = record_items(event(seq=1).model_copy(update={"epoch": 1_000}), now_s=NOW, ttl_days=1).history["sk"]["S"]
    two = record_items(event(seq=1).model_copy(update={"epoch": 2_000}), now_s=NOW, ttl_days=1).history["sk"]["S"]
    assert one < two


def test_newer_version_order_within_and_across_epochs():
    """Within an epoch the higher seq wins; across epochs the later record time (a backfill is history)."""
    assert is_newer((5, 2, 10), (5, 1, 20))           # same lineage: seq decides, even with an older time
    assert not is_newer((5, 1, 30), (5, 2, 10))
    assert is_newer((9, 1, 30), (5, 7, 20))           # a new lineage with newer data (state expired)
    assert not is_newer((9, 1, 10), (5, 7, 20))       # a backfill of older data: history only
    assert is_newer((9, 1, 20), (5, 7, 20))           # same time: the later lineage


def test_a_settlement_is_kept_per_market_line_with_its_own_history():
    """An event's results and voids are one Query (SETTLEMENT#<event>); each line's versions a partition."""
    result = Settlement(kind="result", event_id="ev1", provider_event_id="sr:match:1", bookmaker="sportradar",
                        market="total", specifiers="total=2.5", provider="sportradar", timestamp=START, seq=2,
                        outcomes=[SettledOutcome(side="over", point=2.5, result="won")])
    void = result.model_copy(update={"kind": "void", "outcomes": [], "void_to": START})
    items = [record_items(r, now_s=NOW, ttl_days=30) for r in (result, void)]
    assert [(i.state["pk"]["S"], i.state["sk"]["S"]) for i in items] == [
        ("SETTLEMENT#ev1", "S#ev1|sportradar|total|total=2.5|result"),
        ("SETTLEMENT#ev1", "S#ev1|sportradar|total|total=2.5|void|-|1742097600000")]
    assert items[0].history["pk"]["S"] == "SETTLEMENT#ev1|sportradar|total|total=2.5|result"
    assert items[0].history["sk"]["S"] == "V#0000000000000#000000000002"
    assert orjson.loads(items[0].state["record"]["S"])["outcomes"][0]["result"] == "won"
