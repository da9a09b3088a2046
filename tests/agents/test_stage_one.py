"""Stage 1 as a pure function: raw record bytes in, resolve candidates (or one dead letter) out. No Kafka."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import orjson

from agents.stages.normalize import RESOLVE, process_raw
from agents.stages.resolve import route_key, route_key_of
from schemas import headers as h
from schemas.envelope import RawEnvelope
from schemas.providers import normalize
from tests.conftest import fixture_path

SAMPLE = json.loads(fixture_path("theoddsapi", "odds_soccer_epl_h2h_decimal_2024-08-19.json").read_text())


def envelope(payload, feed: str = "odds") -> bytes:
    return RawEnvelope(provider="theoddsapi", feed=feed, key="k1", params={"oddsFormat": "decimal"},
                       payload=payload).to_json()


def test_a_raw_record_becomes_one_candidate_message_per_fixture() -> None:
    """Each game of the response is one message keyed by its route, events before their odds."""
    out = process_raw("raw.theoddsapi", 0, 7, envelope(SAMPLE), [(h.RECORD_ID, b"r-1")])
    assert out.dead_letter is None
    assert len(out.records) == len(SAMPLE)
    for message in out.records:
        assert message.topic == RESOLVE
        body = orjson.loads(message.value)
        assert body["source"] == "theoddsapi/odds"
        types = [r["type"] for r in body["records"]]
        assert types[0] == "event"
        assert set(types[1:]) == {"odds"}
        # the key stage 2 partitions by is the route of every record in the message
        assert {route_key(r) for r in body["records"]} == {message.key.decode()}
        names = dict(message.headers)
        assert names[h.RECORD_ID] == b"r-1"
        assert h.NORMALIZED_TS in names
        assert h.RECEIVED_TS in names


def test_route_key_of_a_model_equals_route_key_of_its_wire_form() -> None:
    """Production keys by `route_key_of` (models); tests and replays use `route_key` (JSON): they agree."""
    for record in normalize("theoddsapi", "odds", SAMPLE, {"oddsFormat": "decimal"}):
        assert route_key_of(record) == route_key(orjson.loads(record.model_dump_json(by_alias=True)))


def test_a_malformed_envelope_is_one_dead_letter_that_says_why() -> None:
    out = process_raw("raw.theoddsapi", 2, 9, b"{not json", [])
    assert out.records == []
    assert out.dead_letter is not None
    letter = orjson.loads(out.dead_letter.value)
    assert letter["error"].startswith("malformed envelope")
    assert (letter["provider"], letter["sourceTopic"], letter["sourcePartition"], letter["sourceOffset"]) == (
        "theoddsapi", "raw.theoddsapi", 2, 9)


def test_a_payload_the_normalizer_refuses_is_a_dead_letter_with_its_path() -> None:
    broken = [dict(SAMPLE[0], commence_time="not a time")]
    out = process_raw("raw.theoddsapi", 0, 1, envelope(broken), [])
    assert out.records == []
    assert out.dead_letter is not None
    letter = orjson.loads(out.dead_letter.value)
    assert letter["path"].startswith("$[0]")
    assert letter["feed"] == "odds"
    assert letter["payload"] == broken


def test_the_same_teams_twice_in_one_response_are_resolved_in_start_order() -> None:
    """Two meetings share a route (one message): the earlier one's event comes first whatever the
    response's order, so the provider's earlier meeting holds its id before the later one is resolved
    (the later one could otherwise join another provider's earlier meeting: see test_resolve)."""
    first = SAMPLE[0]
    later = dict(first, id=first["id"] + "-return", commence_time=_plus_90(first["commence_time"]))
    out = process_raw("raw.theoddsapi", 0, 1, envelope([later, first]), [])
    message = next(m for m in out.records if first["id"] in m.value.decode())
    events = [r for r in orjson.loads(message.value)["records"] if r["type"] == "event"]
    assert [e["providerEventId"] for e in events] == [first["id"], later["id"]]


def _plus_90(instant: str) -> str:
    moved = datetime.fromisoformat(instant.replace("Z", "+00:00")) + timedelta(minutes=90)
    return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
