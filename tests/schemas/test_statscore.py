"""STATSCORE normalizers: REST events (events.show, livescore.index) and push/feed messages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.canonical import Event, Sport, Status
from schemas.errors import NormalizationError
from schemas.providers.statscore import (
    STATUS_TYPES,
    STATUSES,
    UNMAPPABLE_STATUSES,
    normalize_events,
    normalize_incidents,
    status_of,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "statscore"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def only_event(records: list[Any]) -> Event:
    assert len(records) == 1
    assert isinstance(records[0], Event)
    return records[0]


def push_message() -> dict[str, Any]:
    return load("amqp_push_message_incident.json")


def test_events_show_finished_tennis() -> None:
    """events.show: singular nesting, string results, counter 1 = home; finished is final."""
    ev = only_event(normalize_events(load("events_show_1799408_tennis_finished.json"), {}))
    assert (ev.id, ev.provider_event_id) == ("statscore:1799408", "1799408")
    assert (ev.home_team, ev.away_team) == ("Anastasia Pavlyuchenkova", "Angelique Kerber")
    assert (ev.score.home, ev.score.away) == (0, 2)
    assert (ev.status, ev.sport, ev.league) == (Status.FINAL, Sport.TENNIS, "Brisbane (W)")
    assert (ev.period, ev.clock) == (None, None)
    assert ev.start_time == datetime(2019, 9, 12, 9, 27, tzinfo=UTC)
    assert ev.timestamp == datetime.fromtimestamp(1563997241, UTC)
    assert ev.source_timestamp == datetime.fromtimestamp(1452134088, UTC)


def test_livescore_index_live_tennis() -> None:
    """livescore.index: plural nesting; a live status names the period."""
    ev = only_event(normalize_events(load("livescore_index_status_type_live.json"), {}))
    assert ev.provider_event_id == "2135481"
    assert (ev.home_team, ev.away_team) == ("Samantha Crawford", "Roberta Vinci")
    assert (ev.score.home, ev.score.away) == (2, 2)
    assert (ev.status, ev.period) == (Status.LIVE, "3rd set")
    assert ev.start_time == datetime(2019, 7, 26, 18, 11, tzinfo=UTC)


def test_push_message_scheduled_soccer() -> None:
    """A push message carries the whole event; null results are a null score; league is the id."""
    ev = only_event(normalize_incidents(push_message(), {}))
    assert (ev.id, ev.sport, ev.status) == ("statscore:1822555", Sport.SOCCER, Status.SCHEDULED)
    assert (ev.home_team, ev.away_team) == ("Dzikie Korki", "Bramy z Elwra")
    assert (ev.score.home, ev.score.away) == (None, None)
    assert ev.league == "6628"
    assert ev.start_time == datetime(2020, 4, 16, 10, 22, tzinfo=UTC)
    assert ev.timestamp == datetime.fromtimestamp(1587032622, UTC)


def test_league_param_names_push_events() -> None:
    """The request's `league` param names the competition push messages only give by id."""
    assert only_event(normalize_incidents(push_message(), {"league": "Ekstraklasa"})).league == "Ekstraklasa"


def test_feed_show_log() -> None:
    """feed.show: every incident/event message yields the event state it carries (int results)."""
    records = normalize_incidents(load("feed_show_incident_messages.json"), {})
    assert len(records) == 2
    for ev in records:
        assert isinstance(ev, Event)
        assert (ev.provider_event_id, ev.score.home, ev.score.away) == ("1822555", 1, 1)
        assert ev.start_time == datetime(2017, 12, 7, 7, 10, tzinfo=UTC)
    assert [r.timestamp for r in records] == [datetime.fromtimestamp(t, UTC) for t in (1512653946, 1512653879)]


def test_live_clock_and_halftime() -> None:
    """clock_time is seconds into the period; status 9 is halftime."""
    msg = push_message()
    msg["data"]["event"].update(status_id=33, status_type="live", clock_time=754)
    ev = only_event(normalize_incidents(msg, {}))
    assert (ev.status, ev.period, ev.clock) == (Status.LIVE, "1st half", "12:34")
    msg["data"]["event"].update(status_id=9)
    assert only_event(normalize_incidents(msg, {})).status == Status.HALFTIME


def test_unknown_status_id_falls_back_to_status_type() -> None:
    """Ids outside the table use status_type; the payload's status_name becomes the period."""
    doc = load("livescore_index_status_type_live.json")
    event = doc["api"]["data"]["competitions"][0]["seasons"][0]["stages"][0]["groups"][0]["events"][0]
    event.update(status_id=99999, status_name="4th set")
    assert only_event(normalize_events(doc, {})).period == "4th set"


def test_a_filter_that_matches_nothing_is_no_events_not_an_error() -> None:
    """`status_type=live` between matches: `competitions: []` (or PHP's empty `data: []`) is zero events.

    The vendor's own client reads `data['competitions'] ?? []`; dead-lettering this made 499 of 514
    demo records dead letters.
    """
    doc = load("livescore_index_status_type_live.json")
    doc["api"]["data"]["competitions"] = []
    assert normalize_events(doc, {}) == []
    doc["api"]["data"] = []
    assert normalize_events(doc, {}) == []


def test_deleted_event_yields_nothing() -> None:
    """An event withdrawn upstream has no canonical record."""
    msg = push_message()
    msg["data"]["event"]["action"] = "delete"
    assert normalize_incidents(msg, {}) == []


def test_inverted_participants_are_refused() -> None:
    """We do not guess home/away for inverted events."""
    doc = load("livescore_index_status_type_live.json")
    event = doc["api"]["data"]["competitions"][0]["seasons"][0]["stages"][0]["groups"][0]["events"][0]
    event["inverted_participants"] = "yes"
    with pytest.raises(NormalizationError) as info:
        normalize_events(doc, {})
    assert info.value.path == (
        "$.api.data.competitions[0].seasons[0].stages[0].groups[0].events[0].inverted_participants"
    )


@pytest.mark.parametrize(
    ("fn", "payload", "path"),
    [
        (normalize_events, '{"api": {"ver": "2.125", "data": {"competit', "$"),
        (normalize_events, {"api": {"data": {}}}, "$.api.data"),
        (normalize_events, {"nope": 1}, "$.api"),
        (normalize_incidents, '{"id": 35375779, "type": "incid', "$"),
        (normalize_incidents, {"api": {"data": {"messages": []}}}, "$.api.data"),
    ],
)
def test_truncated_or_malformed_json(fn: Any, payload: Any, path: str) -> None:
    """Undecoded text and wrong envelopes raise with provider and path."""
    with pytest.raises(NormalizationError) as info:
        fn(payload, {})
    assert (info.value.provider, info.value.path) == ("statscore", path)


def test_error_paths_name_the_field() -> None:
    """Bad values inside an event are located precisely."""
    base = load("events_show_1799408_tennis_finished.json")
    event_path = "$.api.data.competition.season.stage.group.event"

    doc = copy.deepcopy(base)
    event = doc["api"]["data"]["competition"]["season"]["stage"]["group"]["event"]
    event["participants"][1]["results"][2]["value"] = "x"
    with pytest.raises(NormalizationError) as info:
        normalize_events(doc, {})
    assert (info.value.feed, info.value.path) == ("events", f"{event_path}.participants[1].results[2].value")

    doc = copy.deepcopy(base)
    doc["api"]["data"]["competition"]["season"]["stage"]["group"]["event"]["start_date"] = "12/09/2019"
    with pytest.raises(NormalizationError) as info:
        normalize_events(doc, {})
    assert info.value.path == f"{event_path}.start_date"

    msg = push_message()
    msg["data"]["event"]["participants"][1]["counter"] = 1
    with pytest.raises(NormalizationError) as info:
        normalize_incidents(msg, {})
    assert (info.value.feed, info.value.path) == ("incidents", "$.data.event.participants")

    msg = push_message()
    msg["type"] = "keep_alive"
    with pytest.raises(NormalizationError) as info:
        normalize_incidents(msg, {})
    assert info.value.path == "$.type"

    msg = push_message()
    del msg["data"]["event"]["participants"]
    with pytest.raises(NormalizationError) as info:
        normalize_incidents(msg, {})
    assert info.value.path == "$.data.event.participants"


def test_status_table_matches_the_dictionaries() -> None:
    """Every status in statuses.index and sports.show is either in STATUSES or declared unmappable."""
    listed = load("statuses_index_subset.json")["api"]["data"]["statuses"]
    listed += load("sports_show_1_basketball_dictionaries.json")["api"]["data"]["sport"]["statuses"]
    for status in listed:
        if status["id"] in UNMAPPABLE_STATUSES:
            continue
        name, canonical = STATUSES[status["id"]]
        assert name == status["name"]
        # The table refines status_type (postponed/delayed are "scheduled", abandoned is "finished").
        assert canonical == STATUS_TYPES[status["type"]] or status["type"] in {"scheduled", "finished", "live"}


@given(st.sampled_from(sorted(STATUSES)), st.one_of(st.none(), st.text()))
def test_every_known_status_maps(status_id: int, status_type: str | None) -> None:
    """A known id maps through the table whatever the type says."""
    assert status_of(status_id, status_type, "events") == STATUSES[status_id][1]


@given(
    st.integers().filter(lambda n: n not in STATUSES and n not in UNMAPPABLE_STATUSES),
    st.sampled_from(sorted(STATUS_TYPES)),
)
def test_unknown_id_with_known_type_maps_by_type(status_id: int, status_type: str) -> None:
    """An id missing from the table maps by its status_type."""
    assert status_of(status_id, status_type, "events") == STATUS_TYPES[status_type]


@given(
    st.integers().filter(lambda n: n not in STATUSES),
    st.one_of(st.none(), st.text().filter(lambda s: s not in STATUS_TYPES)),
)
def test_unknown_codes_raise(status_id: int, status_type: str | None) -> None:
    """Unknown ids with unknown types, and unmappable ids, raise."""
    with pytest.raises(NormalizationError):
        status_of(status_id, status_type, "incidents")


def test_manifest_entries_normalize() -> None:
    """Every manifest entry names an existing file and a feed of this provider, and yields events."""
    feeds = {"events": normalize_events, "incidents": normalize_incidents}
    manifest = load("manifest.json")
    assert {entry["feed"] for entry in manifest} == set(feeds)
    for entry in manifest:
        assert entry["provenance"]
        assert feeds[entry["feed"]](load(entry["file"]), entry["params"])
