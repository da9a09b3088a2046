"""Client messages in, commands out; control frames; no I/O."""

from __future__ import annotations

import orjson
import pytest

from sinks.websocket.protocol import Filters, ProtocolError, control, make_item, parse_message


def test_original_engine_subscribe_message():
    """The original engine's subscribe message parses as-is."""
    command = parse_message('{"action":"subscribe","subscriptions":["live_scores","betting_odds","race_results"]}')
    assert command.action == "subscribe"
    assert command.channels == ("live_scores", "betting_odds", "race_results")
    assert command.filters == Filters()


def test_filters_accept_strings_or_lists_and_both_spellings():
    """Filters take a string or a list, singular or plural names."""
    command = parse_message(orjson.dumps({
        "action": "subscribe", "subscriptions": ["betting_odds"],
        "filters": {"sport": "soccer", "leagues": ["EPL"], "eventIds": ["e1", "e2"], "bookmaker": "pinnacle"},
    }))
    assert command.filters == Filters(frozenset({"soccer"}), frozenset({"EPL"}), frozenset({"e1", "e2"}),
                                      frozenset({"pinnacle"}))


def test_resume_message():
    """A resume carries a cursor (offsets per topic-partition) and/or lastSeq per entity."""
    command = parse_message(orjson.dumps({
        "action": "resume", "subscriptions": ["live_scores"], "cursor": {"canonical.events:0": 41},
        "lastSeq": {"sf_1": 3}, "token": "abc",
    }))
    assert command.cursor == {"canonical.events:0": 41}
    assert command.last_seq == {"sf_1": 3}
    assert command.token == "abc"


@pytest.mark.parametrize(("message", "error"), [
    ("not json", "not JSON"),
    ("[]", "action"),
    ('{"action":"dance"}', "action"),
    ('{"action":"subscribe","subscriptions":"live_scores"}', "list of channel names"),
    ('{"action":"subscribe","subscriptions":["weather"]}', "unknown channel"),
    ('{"action":"subscribe","subscriptions":["live_scores"],"filters":[1]}', "filters must be an object"),
    ('{"action":"subscribe","subscriptions":["live_scores"],"filters":{"sport":[1]}}', "filter sport"),
    ('{"action":"resume","subscriptions":["live_scores"]}', "cursor"),
    ('{"action":"resume","subscriptions":["live_scores"],"cursor":{"t:0":"x"}}', "integers"),
    ('{"action":"auth","token":5}', "token must be a string"),
])
def test_bad_messages_are_refused_with_a_reason(message, error):
    """Malformed messages raise ProtocolError with a reason for the close frame."""
    with pytest.raises(ProtocolError, match=error):
        parse_message(message)


def test_too_many_filter_values_are_refused():
    """Filters are bounded, so one message cannot make a client expensive."""
    with pytest.raises(ProtocolError, match="more than"):
        parse_message(orjson.dumps({"action": "subscribe", "subscriptions": ["live_scores"],
                                    "filters": {"eventIds": [str(n) for n in range(1001)]}}))


def test_control_frames():
    """Control frames are small JSON objects with a type."""
    assert orjson.loads(control("resumed", recovered=False)) == {"type": "resumed", "recovered": False}


def test_make_item_for_odds_routes_by_event_and_bookmaker():
    """Odds are routed by their event id and bookmaker; the Kafka key is the entity key."""
    value = orjson.dumps({"type": "odds", "eventId": "sf_1", "bookmaker": "bk", "seq": 5, "sport": "soccer"})
    item = make_item(value, channel="betting_odds", topic="canonical.odds", partition=3, offset=9, ts_ms=1,
                     key=b"sf_1|bk|moneyline")
    assert (item.key, item.event_id, item.bookmaker, item.seq, item.tp) == (
        "sf_1|bk|moneyline", "sf_1", "bk", 5, "canonical.odds:3")
    assert orjson.loads(item.frame)["cursor"] == "canonical.odds:3:9"
    assert item.conflates


def test_make_item_refuses_what_is_not_a_json_object():
    """Garbage on a canonical topic is refused (the feed logs and skips it)."""
    for value in (b"garbage", b"[1]", b'"x"'):
        with pytest.raises(ValueError, match="JSON"):
            make_item(value, channel="live_scores", topic="t", partition=0, offset=0, ts_ms=0, key=None)


def test_frames_carry_the_stage_stamps_and_the_send_time() -> None:
    """The record's stage headers and the broadcaster's read and send times go into the frame."""
    from schemas import headers as h
    from sinks.websocket.feed import stages_of

    headers = [(h.PROVIDER_TS, b"900"), (h.RECEIVED_TS, b"1000"), (h.PUBLISHED_TS, b"1012"), (h.APP, b"x"),
               (h.NORMALIZED_TS, b"1010"), (h.RECEIVED_TS, b"12; drop")]
    item = make_item(b'{"id":"e1","seq":3,"type":"event"}', channel="live_scores", topic="canonical.events",
                     partition=0, offset=5, ts_ms=1012, key=b"e1", stages=stages_of(headers[:5], 1015, 1016))
    frame = orjson.loads(item.frame)
    assert frame["stages"] == {"provider": 900, "received": 1000, "published": 1012, "hub": 1015, "sent": 1016}
    assert frame["id"] == "e1"
    assert "received" not in stages_of(headers[5:], 1, 2)


def test_only_lost_connections_count_as_websocket_drops() -> None:
    """WebSocketDropRate counts connections lost (no close frame, slow consumer, server error), not
    clean closes, refusals or the client's own faults."""
    from sinks.websocket.server import dropped

    assert [code for code in (1000, 1001, 1006, 1009, 1011, 1013, 4008, 4029, 4400, 4401, 4403) if dropped(code)] \
        == [1006, 1011, 4008]
    assert dropped(None)  # ended without the server learning how: treated as lost


def test_a_settlement_is_routed_by_its_event_bookmaker_sport_and_league():
    """Clients subscribe to `settlements` and filter by event id like odds; frames are never conflated."""
    command = parse_message(orjson.dumps({"action": "subscribe", "subscriptions": ["settlements"],
                                          "filters": {"eventIds": ["sf_9"]}}))
    record = {"type": "settlement", "kind": "result", "eventId": "sf_9", "bookmaker": "sportradar",
              "sport": "soccer", "league": "Premier League", "market": "moneyline", "seq": 2, "epoch": 5,
              "timestamp": "2025-01-15T19:00:00.000Z", "rolledBack": True, "correction": True, "replacesSeq": 1}
    item = make_item(orjson.dumps(record), channel="settlements", topic="canonical.settlements", partition=1,
                     offset=7, ts_ms=1, key=b"sf_9|sportradar|moneyline||result")
    assert (item.event_id, item.bookmaker, item.sport, item.seq, item.epoch) == ("sf_9", "sportradar", "soccer", 2, 5)
    assert command.filters.match(item)
    assert not Filters(event_ids=frozenset({"sf_other"})).match(item)
    assert not item.conflates
    assert orjson.loads(item.frame)["channel"] == "settlements"
