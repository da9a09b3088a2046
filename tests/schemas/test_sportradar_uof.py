"""Sportradar Unified Odds Feed (XML) normalizer: markets, statuses, and hostile XML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given
from hypothesis import strategies as st

from schemas.canonical import Event, Odds, Settlement, Sport, Status
from schemas.errors import NormalizationError
from schemas.providers.sportradar_uof import (
    EVENT_STATUS,
    LAST_ODDS_PARAM,
    MATCH_STATUS_NAMES,
    MATCH_STATUS_OVERRIDES,
    event_status,
    normalize_uof,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sportradar"
FIXTURE_PARAMS = {
    "home_team": "Home FC",
    "away_team": "Away FC",
    "start_time": "2017-02-16T14:00:00Z",
    "sport": "soccer",
    "league": "Test League",
}


def load(name: str) -> str:
    return (FIXTURES / name).read_text()


MARKET1 = "/odds_change/odds/market[1]"


def odds_by_market(records: list[Any]) -> dict[str, Odds]:
    return {r.market: r for r in records if isinstance(r, Odds)}


def sides(odds: Odds) -> dict[str, tuple[float, float | None]]:
    return {o.side: (o.price, o.point) for o in odds.outcomes}


def odds_change(markets: str, status: str = "") -> str:
    return (
        f'<odds_change product="1" event_id="sr:match:1" timestamp="1700000000000">{status}'
        f"<odds>{markets}</odds></odds_change>"
    )


def test_live_odds_change_without_fixture_emits_only_odds() -> None:
    """No team names in UOF: no Event, Odds with empty team fields, one per market."""
    records = normalize_uof(load("uof_odds_change_live.xml"), {})
    assert all(isinstance(r, Odds) for r in records)
    assert len(records) == 6
    by_market = odds_by_market(records)
    total = by_market["total"]
    assert sides(total) == {"over": (1.7, 3.5), "under": (1.9, 3.5)}
    assert not total.suspended
    assert (total.event_id, total.provider_event_id) == ("sportradar:sr:match:10927088", "sr:match:10927088")
    assert (total.home_team, total.away_team, total.sport, total.league) == (None, None, None, None)
    assert total.bookmaker == "sportradar"
    assert total.timestamp == datetime(2017, 2, 16, 14, 13, 16, 715000, tzinfo=UTC)
    double_chance = by_market["sr_market_10"]
    assert double_chance.suspended  # outcome 11 is inactive (and has no price)
    assert sides(double_chance) == {"9": (3.9, None), "10": (1.08, None)}
    settled = by_market["sr_market_68[total=1.5]"]
    assert (settled.suspended, settled.outcomes) == (True, [])
    assert by_market["sr_market_61[score=0:0]"].suspended
    assert sides(by_market["sr_market_68[total=2.5]"]) == {"13": (1.5, None), "12": (2.35, None)}


def test_live_odds_change_with_fixture_params_emits_event() -> None:
    """With the fixture supplied, sport_event_status becomes an Event with score, period and clock."""
    records = normalize_uof(load("uof_odds_change_live.xml"), FIXTURE_PARAMS)
    event = records[0]
    assert isinstance(event, Event)
    assert event.id == "sportradar:sr:match:10927088"
    assert (event.home_team, event.away_team, event.sport, event.league) == (
        "Home FC", "Away FC", Sport.SOCCER, "Test League",
    )
    assert (event.score.home, event.score.away) == (0, 2)
    assert (event.status, event.period, event.clock) == (Status.LIVE, "1st half", "27:33")
    assert event.start_time == datetime(2017, 2, 16, 14, 0, tzinfo=UTC)
    odds = [r for r in records[1:] if isinstance(r, Odds)]
    assert len(odds) == 6
    assert {(o.home_team, o.away_team, o.sport) for o in odds} == {("Home FC", "Away FC", Sport.SOCCER)}


def test_prematch_odds_change_maps_markets() -> None:
    """1x2 -> moneyline; hcp=0:1 -> spread home -1/away +1; total=2.5 -> total; others by id."""
    by_market = odds_by_market(normalize_uof(load("uof_odds_change_prematch.xml"), {}))
    assert set(by_market) == {"moneyline", "spread", "total", "sr_market_8[goalnr=1]"}
    assert sides(by_market["moneyline"]) == {"home": (2.25, None), "draw": (3.55, None), "away": (3.1, None)}
    assert sides(by_market["spread"]) == {"home": (4.0, -1.0), "draw": (4.2, -1.0), "away": (1.63, 1.0)}
    assert sides(by_market["total"]) == {"over": (1.75, 2.5), "under": (2.2195121951, 2.5)}
    assert not any(o.suspended for o in by_market.values())


def test_prematch_status_event_is_scheduled_without_scores() -> None:
    """status=0 without scores is a scheduled event with a null score."""
    event = normalize_uof(load("uof_odds_change_prematch.xml"), FIXTURE_PARAMS)[0]
    assert isinstance(event, Event)
    assert (event.status, event.score.home, event.score.away, event.period) == (Status.SCHEDULED, None, None, None)


def test_asian_handicap_line_is_home_perspective() -> None:
    """Market 16: hcp is the home line; the away outcome carries its negation."""
    xml = odds_change(
        '<market status="1" id="16" specifiers="hcp=-0.25">'
        '<outcome id="1714" odds="1.9" active="1"/><outcome id="1715" odds="1.95" active="1"/></market>'
    )
    (odds,) = normalize_uof(xml, {})
    assert isinstance(odds, Odds)
    assert (odds.market, sides(odds)) == ("spread", {"home": (1.9, -0.25), "away": (1.95, 0.25)})


def test_halftime_match_status() -> None:
    """match_status 31 (halftime) refines status 1 (live)."""
    xml = odds_change("", '<sport_event_status status="1" match_status="31" home_score="1" away_score="0"/>')
    (event,) = normalize_uof(xml, FIXTURE_PARAMS)
    assert isinstance(event, Event)
    assert (event.status, event.period, event.score.home) == (Status.HALFTIME, "Halftime", 1)


@pytest.mark.parametrize(
    "name", ["uof_bet_stop.xml", "uof_alive.xml", "uof_fixture_change.xml"]
)
def test_messages_without_a_canonical_record(name: str) -> None:
    """bet_stop without prices seen, alive; fixture_change needs params."""
    assert normalize_uof(load(name), {}) == []


def test_bet_stop_suspends_the_markets_last_priced() -> None:
    """bet_stop + the event's last odds_change (carried by the connector): those markets, suspended, same prices."""
    last = load("uof_odds_change_live.xml")
    event_id = fromstring(last).get("event_id")
    stop = f'<bet_stop groups="all" product="1" event_id="{event_id}" timestamp="1700000000000"/>'
    priced = [r for r in normalize_uof(last, {}) if isinstance(r, Odds)]
    suspended = normalize_uof(stop, {LAST_ODDS_PARAM: last})
    assert suspended
    assert all(isinstance(r, Odds) and r.suspended for r in suspended)
    assert [(r.market, r.outcomes) for r in suspended] == [(r.market, r.outcomes) for r in priced]
    assert {r.timestamp for r in suspended} == {datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)}
    other = stop.replace(event_id, "sr:match:1")
    assert normalize_uof(other, {LAST_ODDS_PARAM: last}) == []  # another event's prices suspend nothing here


def test_fixture_change_with_fixture_params() -> None:
    """A fixture change becomes an Event carrying the new start time (epoch ms)."""
    (event,) = normalize_uof(load("uof_fixture_change.xml"), FIXTURE_PARAMS)
    assert isinstance(event, Event)
    assert event.provider_event_id == "sr:match:8816128"
    assert event.start_time == datetime(2016, 6, 20, 15, 30, tzinfo=UTC)
    assert event.status == Status.SCHEDULED


def test_bytes_payload_is_accepted() -> None:
    """AMQP bodies are bytes; they parse like text."""
    assert len(normalize_uof(load("uof_odds_change_prematch.xml").encode(), {})) == 4


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alive product="1" timestamp="&lol3;" subscribed="1"/>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE alive [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alive product="1" timestamp="1" subscribed="&xxe;"/>"""
DTD_ONLY = (
    '<?xml version="1.0"?><!DOCTYPE alive SYSTEM "http://example.invalid/a.dtd"><alive product="1" timestamp="1"/>'
)


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY])
def test_entity_expansion_and_dtds_are_refused(payload: str) -> None:
    """Entity bombs, external entities and any DOCTYPE are refused before expansion."""
    with pytest.raises(NormalizationError) as info:
        normalize_uof(payload, {})
    assert (info.value.provider, info.value.feed, info.value.path) == ("sportradar", "uof", "/")
    assert "unsafe XML" in info.value.reason


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (load("uof_odds_change_live.xml")[:700], "/"),
        ("<odds_change product='1'", "/"),
        ("", "/"),
        ({"odds_change": {}}, "/"),
        ("<rollback_everything/>", "/rollback_everything"),
        ('<odds_change product="1" timestamp="1"><odds/></odds_change>', "/odds_change@event_id"),
        ('<alive product="x" timestamp="1"/>', "/alive@product"),
        (odds_change('<market id="one" status="1"/>'), f"{MARKET1}@id"),
        (
            odds_change('<market id="1" status="1"/><market id="1" status="1"><outcome id="1" odds="0.9"/></market>'),
            "/odds_change/odds/market[2]/outcome[1]@odds",
        ),
        (odds_change('<market id="1" status="1"><outcome id="4" odds="2.0"/></market>'), f"{MARKET1}/outcome[1]@id"),
        (odds_change('<market id="18" status="1"><outcome id="12" odds="2.0"/></market>'), f"{MARKET1}@specifiers"),
        (
            odds_change('<market id="14" status="1" specifiers="hcp=a:b"><outcome id="1711" odds="2.0"/></market>'),
            f"{MARKET1}@specifiers",
        ),
        (odds_change('<market id="5" status="1" specifiers="total"/>'), f"{MARKET1}@specifiers"),
        (odds_change("", '<sport_event_status status="42"/>'), "/odds_change/sport_event_status@status"),
        (
            odds_change("", '<sport_event_status status="1" home_score="1.5"/>'),
            "/odds_change/sport_event_status@home_score",
        ),
    ],
)
def test_malformed_messages_are_located(payload: Any, path: str) -> None:
    """Truncated XML, wrong types and broken markets raise with an XPath-like location."""
    with pytest.raises(NormalizationError) as info:
        normalize_uof(payload, FIXTURE_PARAMS)
    assert (info.value.provider, info.value.feed, info.value.path) == ("sportradar", "uof", path)


def test_bad_fixture_params_are_refused() -> None:
    """A fixture param that is not a canonical value is an error on the params, not a guess."""
    with pytest.raises(NormalizationError) as info:
        normalize_uof(load("uof_odds_change_live.xml"), {**FIXTURE_PARAMS, "sport": "curling"})
    assert info.value.path == "params"


def test_match_status_table_is_the_descriptions_endpoint() -> None:
    """MATCH_STATUS_NAMES equals REST /descriptions/match_status.xml (read with defusedxml)."""
    root = fromstring(load("uof_api_match_status_descriptions.xml"))
    assert {int(e.get("id")): e.get("description") for e in root} == dict(MATCH_STATUS_NAMES)


@given(st.sampled_from(sorted(EVENT_STATUS)), st.one_of(st.none(), st.sampled_from(sorted(MATCH_STATUS_NAMES))))
def test_every_known_status_maps(status: int, match_status: int | None) -> None:
    """Every status code maps; a match status overrides only when it is in the override table."""
    base = EVENT_STATUS[status]
    expected = base if match_status is None else MATCH_STATUS_OVERRIDES.get(match_status, base)
    assert event_status(status, match_status) == expected


@given(st.integers().filter(lambda n: n not in EVENT_STATUS))
def test_unknown_status_raises(status: int) -> None:
    """Unknown sport_event_status@status codes raise."""
    with pytest.raises(NormalizationError) as info:
        event_status(status, None)
    assert info.value.path == "/sport_event_status@status"


@given(st.sampled_from(sorted(EVENT_STATUS)), st.integers().filter(lambda n: n not in MATCH_STATUS_NAMES))
def test_unknown_match_status_raises(status: int, match_status: int) -> None:
    """Unknown match_status codes raise too."""
    with pytest.raises(NormalizationError) as info:
        event_status(status, match_status)
    assert info.value.path == "/sport_event_status@match_status"


def test_feeds_are_registered() -> None:
    """Discovery finds both Sportradar modules under one provider; UOF is an XML feed."""
    from schemas.providers import get_feed

    assert get_feed("sportradar", "uof").normalize is normalize_uof
    assert get_feed("sportradar", "uof").content_type == "xml"
    assert {get_feed("sportradar", s).content_type for s in ("soccer-summary", "nba-schedule")} == {"json"}
    assert get_feed("statscore", "incidents").content_type == "json"


def test_the_sdk_bet_settlement_sample_settles_each_market_line() -> None:
    """The vendor's sample: unmapped markets keep their ids and lines; each line is its own entity."""
    records = normalize_uof(load("uof_bet_settlement.xml"), FIXTURE_PARAMS)
    assert all(isinstance(r, Settlement) for r in records)
    settled = [r for r in records if isinstance(r, Settlement)]
    assert [(r.market, r.specifiers, r.kind, r.certainty) for r in settled] == [
        ("sr_market_213[setnr=3,gamenr=3]", "setnr=3|gamenr=3", "result", None),
        ("sr_market_209[setnr=3,gamenrX=2,gamenrY=3]", "setnr=3|gamenrX=2|gamenrY=3", "result", None),
        ("sr_market_190[total=11.5]", "total=11.5", "result", None)]
    assert [(o.side, o.result) for o in settled[2].outcomes] == [("13", "lost"), ("12", "won")]
    assert settled[0].timestamp == datetime(2016, 6, 13, 22, 8, 47, 378000, tzinfo=UTC)
    assert (settled[0].home_team, settled[0].sport) == ("Home FC", Sport.SOCCER)
    assert len({r.entity_key for r in settled}) == 3


def test_void_and_dead_heat_factors_and_a_cancel_range() -> None:
    settled = normalize_uof(
        '<bet_settlement certainty="2" product="3" event_id="sr:match:1" timestamp="1700000000000"><outcomes>'
        '<market id="18" specifiers="total=2.5" void_reason="8"><outcome id="12" result="1" void_factor="0.5" '
        'dead_heat_factor="0.5"/><outcome id="13" result="0" void_factor="0.5"/></market></outcomes>'
        "</bet_settlement>", {})
    [total] = settled
    assert isinstance(total, Settlement)
    assert (total.certainty, total.void_reason, total.market) == ("confirmed", "DEAD_HEAT", "total")
    assert [(o.side, o.point, o.result, o.void_factor, o.dead_heat_factor) for o in total.outcomes] == [
        ("over", 2.5, "won", 0.5, 0.5), ("under", 2.5, "lost", 0.5, None)]
    [void] = normalize_uof(
        '<bet_cancel product="1" event_id="sr:match:1" timestamp="1700000000001" end_time="1699999500000" '
        'superceded_by="sr:match:2"><market id="1" void_reason="12"/></bet_cancel>', {})
    assert isinstance(void, Settlement)
    assert (void.kind, void.market, void.void_reason, void.superseded_by, void.outcomes) == (
        "void", "moneyline", "INCORRECT_ODDS", "sr:match:2", [])
    assert (void.void_from, void.void_to) == (None, datetime(2023, 11, 14, 22, 5, tzinfo=UTC))


@pytest.mark.parametrize(("xml", "path"), [
    ('<bet_settlement product="1" event_id="sr:match:1" timestamp="1"><outcomes><market id="1">'
     '<outcome id="9" result="1"/></market></outcomes></bet_settlement>',
     "/bet_settlement/outcomes/market[1]/outcome[1]@id"),
    ('<bet_settlement product="1" event_id="sr:match:1" timestamp="1"><outcomes><market id="1">'
     '<outcome id="1" result="2"/></market></outcomes></bet_settlement>',
     "/bet_settlement/outcomes/market[1]/outcome[1]@result"),
    ('<bet_settlement product="1" event_id="sr:match:1" timestamp="1"><outcomes><market id="5">'
     '<outcome id="1" result="1" void_factor="1.5"/></market></outcomes></bet_settlement>',
     "/bet_settlement/outcomes/market[1]/outcome[1]@void_factor"),
    ('<bet_settlement product="1" event_id="sr:match:1" timestamp="1"><outcomes><market id="5"/></outcomes>'
     "</bet_settlement>", "/bet_settlement/outcomes/market[1]"),
    ('<rollback_bet_cancel product="1" timestamp="1"><market id="5"/></rollback_bet_cancel>',
     "/rollback_bet_cancel@event_id"),
])
def test_a_broken_settlement_is_refused_with_its_path(xml: str, path: str) -> None:
    with pytest.raises(NormalizationError) as err:
        normalize_uof(xml, {})
    assert err.value.path == path

