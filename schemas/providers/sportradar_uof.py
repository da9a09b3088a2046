"""Sportradar Unified Odds Feed (UOF): AMQP XML messages, feed "uof" of provider "sportradar".

The payload is one message's XML text. It is parsed with `defusedxml` with DTDs forbidden: the feed never
sends a DTD, so any DOCTYPE (entity expansion, external entities) is refused as a `NormalizationError`.

What each message becomes:
- `odds_change`: one `Odds` per `<market>` (bookmaker "sportradar", decimal prices). Market 1 (1x2) ->
  `moneyline` home/draw/away; 18 (total, `total=` specifier) -> `total` over/under with the line as
  `point`; 14 (3-way handicap, `hcp=H:A` goal head starts) and 16 (handicap, `hcp=` home line) ->
  `spread`, `point` from the outcome's own side (home and draw carry the home line, away its negation).
  Other markets keep their id and specifiers as name, e.g. `sr_market_10` or `sr_market_68[total=2.5]`,
  with the raw outcome ids as sides (names need the REST market descriptions, which a pure function does
  not fetch). A market whose status is not 1 (inactive, suspended, handed over, settled, cancelled) or
  that has an inactive outcome is `suspended=True`; outcomes without a price are left out.
- `odds_change` with `<sport_event_status>` also yields an `Event`, but only when the request params
  carry the fixture (`home_team`, `away_team`, `start_time`, `sport`, `league`, e.g. filled by the
  connector from the REST fixture): UOF messages name no teams and no start time, and an Event without
  them would be made up. The same params fill the Odds' team/sport/league fields; otherwise they are None.
- `fixture_change`: an `Event` with the new `start_time`, under the same condition plus a `status`
  attribute on the message; otherwise `[]` (the message alone cannot fill an Event).
- `bet_stop`: every market of the event's last `odds_change` (which the connector carries in the param
  `_last_odds_change`, so a replay gives the same answer) as `Odds` with `suspended=True` and the last
  prices, stamped with the bet_stop's time. It names market *groups* ("all", "score", ...), and group
  membership is in the REST market descriptions, so any bet_stop suspends every market we hold: showing
  a price the bookmaker has stopped is worse than hiding one a little longer. No carried odds: `[]`.
- `bet_settlement`, `bet_cancel` and their rollbacks: `Settlement` records (`_uof_settlements.py`).
- `snapshot_complete`, `alive`: `[]` (heartbeats and recovery markers belong to the connector).
Unknown message types raise. Paths in errors are XPath-like: `/odds_change/odds/market[2]@id`.
Times: every message's `timestamp` attribute is epoch milliseconds, UTC (UOF message docs; the samples'
13-digit values); a fixture's `start_time` comes from the REST fixture, ISO-8601 with offset.

Known limit: `Odds.entity_key` is event|bookmaker|market, so several lines of one market (totals 2.5 and
3.5; handicaps 14 and 16 both being `spread`) share a key and the last one wins downstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import Field

from schemas.canonical import CanonicalRecord, Event, Odds, Outcome, Score, Sport, Status
from schemas.errors import NormalizationError
from schemas.odds import OddsFormatError, decimal_price
from schemas.providers import feed
from schemas.providers._common import provisional_event_id
from schemas.providers._uof_settlements import SETTLEMENT_HANDLERS
from schemas.providers._uof_xml import (
    BOOKMAKER,
    FEED,
    MARKETS,
    POINT_SIGN,
    PROVIDER,
    RawEventMessage,
    RawMessage,
    parse_xml,
)
from schemas.providers._uof_xml import UofRaw as _Raw
from schemas.providers._uof_xml import attrs as _attrs
from schemas.providers._uof_xml import fixture_of as _fixture
from schemas.providers._uof_xml import market_name as _market_name
from schemas.providers._uof_xml import specifiers as _specifiers
from schemas.timeutil import from_epoch_ms

LAST_ODDS_PARAM = "_last_odds_change"  # the event's last odds_change XML, carried with a bet_stop

# sport_event_status@status (UnifiedFeed.xsd).
EVENT_STATUS: Mapping[int, Status] = {
    0: Status.SCHEDULED, 1: Status.LIVE, 2: Status.SUSPENDED, 3: Status.FINAL, 4: Status.FINAL,
    5: Status.CANCELLED, 6: Status.DELAYED, 7: Status.SUSPENDED, 8: Status.POSTPONED, 9: Status.ABANDONED,
}
# match_status codes that say more than status does: halftime and extra-time halftime.
MATCH_STATUS_OVERRIDES: Mapping[int, Status] = {31: Status.HALFTIME, 33: Status.HALFTIME}
# REST /v1/descriptions/en/match_status.xml, complete: the period names.
MATCH_STATUS_NAMES: Mapping[int, str] = {
    0: "Not started", 1: "1st period", 2: "2nd period", 3: "3rd period", 4: "4th period", 5: "5th period",
    6: "1st half", 7: "2nd half", 8: "1st set", 9: "2nd set", 10: "3rd set", 11: "4th set", 12: "5th set",
    13: "1st quarter", 14: "2nd quarter", 15: "3rd quarter", 16: "4th quarter", 17: "Golden set",
    20: "Started", 21: "In progress", 30: "Break", 31: "Halftime", 32: "Awaiting extra time",
    33: "Extra time halftime", 34: "Awaiting penalties", 35: "Awaiting penalties", 36: "Awaiting penalties",
    40: "Overtime", 41: "1st extra", 42: "2nd extra", 50: "Penalties", 51: "Penalties", 52: "Penalties",
    60: "Postponed", 61: "Start delayed", 70: "Cancelled", 71: "Game 1", 72: "Game 2", 73: "Game 3",
    74: "Game 4", 75: "Game 5", 76: "Game 6", 77: "Game 7", 80: "Interrupted", 81: "Suspended",
    90: "Abandoned", 91: "Walkover", 92: "Retired", 93: "Walkover, player 1 won", 94: "Walkover, player 2 won",
    95: "Player 1 retired, player 2 won", 96: "Player 2 retired, player 1 won", 97: "Defaulted",
    98: "Defaulted", 99: "Only Result", 100: "Ended", 110: "AET", 120: "AP", 130: "AGS",
    **{140 + n: f"{o} map" for n, o in enumerate(("1st", "2nd", "3rd", "4th", "5th", "6th", "7th"), 1)},
    **{150 + n: f"{o} Game" for n, o in enumerate(("1st", "2nd", "3rd", "4th", "5th"), 1)},
    **{300 + n: f"{o} break" for n, o in enumerate(("First", "Second", "Third", "Fourth", "Fifth", "Sixth"), 1)},
    **{400 + 2 * n - 1 + h: f"{o} inning {('top', 'bottom')[h]}" for n, o in enumerate(
        ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "Extra"), 1) for h in (0, 1)},
    421: "Break top1-bottom1", 422: "Break top2-bottom1", 423: "Break top2-bottom2", 424: "Break top3-bottom2",
    425: "Break top3-bottom3", 426: "Break top4-bottom3", 427: "Break top4-bottom4", 428: "Break top5-bottom4",
    429: "Break top5-bottom5", 430: "Break top6-bottom5", 431: "Break top6-bottom6", 432: "Break top7-bottom6",
    433: "Break top7-bottom7", 434: "Break top8-bottom7", 435: "Break top8-bottom8", 436: "Break top9-bottom8",
    437: "Break top9-bottom9", 438: "Break topEI-bottom9", 439: "Break topEI-bottomEI", 440: "Sudden death",
    441: "6th set", 442: "7th set", 443: "Awaiting sudden death", 444: "After sudden death", 445: "Break",
    501: "First innings, home team", 502: "First innings, away team", 503: "Second innings, home team",
    504: "Second innings, away team", 505: "Awaiting super over", 506: "Super over, home team",
    507: "Super over, away team", 508: "After super over", 509: "Innings break", 510: "Super over break",
    511: "Lunch break", 512: "Tea break", 513: "Stumps",
    **{513 + n: f"{n + 7}th set" for n in range(1, 7)},
}
IN_PLAY = frozenset({Status.LIVE, Status.HALFTIME, Status.SUSPENDED})




class RawSportEventStatus(_Raw):
    status: int
    match_status: int | None = None
    home_score: Decimal | None = Field(None, ge=0)
    away_score: Decimal | None = Field(None, ge=0)


class RawMarket(_Raw):
    id: int
    status: int = 1  # the SDK reads a missing status as active
    specifiers: str | None = None


class RawOutcome(_Raw):
    id: str = Field(min_length=1)
    odds: Decimal | None = None
    active: int = Field(1, ge=0, le=1)


class RawFixtureChange(RawEventMessage):
    start_time: int | None = Field(None, ge=0)
    status: int | None = None


def event_status(status: int, match_status: int | None, path: str = "/sport_event_status") -> Status:
    """The canonical status of a `sport_event_status`; unknown codes raise."""
    if status not in EVENT_STATUS:
        raise NormalizationError(PROVIDER, FEED, f"unknown status {status}", f"{path}@status")
    if match_status is not None and match_status not in MATCH_STATUS_NAMES:
        raise NormalizationError(PROVIDER, FEED, f"unknown match_status {match_status}", f"{path}@match_status")
    return MATCH_STATUS_OVERRIDES.get(match_status if match_status is not None else -1, EVENT_STATUS[status])


def _int_score(value: Decimal | None, path: str) -> int | None:
    if value is None:
        return None
    if value != value.to_integral_value():
        raise NormalizationError(PROVIDER, FEED, f"score {value} is not an integer", path)
    return int(value)


def _market(el: Element, msg: RawEventMessage, fixture: tuple[Sport, str, str, str, datetime] | None,
            path: str) -> Odds | None:
    """One market as Odds; None for an open market without a priced outcome (it says nothing)."""
    raw = _attrs(RawMarket, el, path)
    specs = _specifiers(raw.specifiers, path)
    spec = MARKETS.get(raw.id)
    suspended = raw.status != 1
    outcomes: list[Outcome] = []
    for k, out_el in enumerate(el.findall("outcome"), 1):
        out_path = f"{path}/outcome[{k}]"
        out = _attrs(RawOutcome, out_el, out_path)
        suspended = suspended or out.active == 0
        if out.odds is None:
            continue
        try:
            price = decimal_price(str(out.odds))
        except OddsFormatError as exc:
            raise NormalizationError(PROVIDER, FEED, str(exc), f"{out_path}@odds") from exc
        if spec is None:
            outcomes.append(Outcome(side=out.id, price=price))
            continue
        side = spec.sides.get(out.id)
        if side is None:
            reason = f"outcome {out.id} is not part of market {raw.id}"
            raise NormalizationError(PROVIDER, FEED, reason, f"{out_path}@id")
        try:
            point = spec.line(specs) * POINT_SIGN[side] if spec.line else None
        except (KeyError, ValueError, InvalidOperation) as exc:
            reason = f"market {raw.id} needs a numeric line in specifiers, got {raw.specifiers!r}"
            raise NormalizationError(PROVIDER, FEED, reason, f"{path}@specifiers") from exc
        outcomes.append(Outcome(side=side, price=price, point=point))
    if not outcomes and not suspended:
        return None
    name = spec.name if spec else _market_name(raw.id, specs)
    sport, league, home, away, _ = fixture or (None, None, None, None, None)
    at = from_epoch_ms(msg.timestamp)
    return Odds(
        event_id=provisional_event_id(PROVIDER, msg.event_id), provider_event_id=msg.event_id, provider=PROVIDER,
        sport=sport, league=league, home_team=home, away_team=away, bookmaker=BOOKMAKER, market=name,
        outcomes=outcomes, suspended=suspended, timestamp=at, source_timestamp=at,
    )


def _event(msg: RawEventMessage, fixture: tuple[Sport, str, str, str, datetime], status: Status, *,
           start: datetime | None = None, score: Score | None = None, period: str | None = None,
           clock: str | None = None) -> Event:
    sport, league, home, away, fixture_start = fixture
    at = from_epoch_ms(msg.timestamp)
    return Event(
        id=provisional_event_id(PROVIDER, msg.event_id), sport=sport, league=league, home_team=home, away_team=away,
        score=score or Score(), status=status, start_time=start or fixture_start, period=period, clock=clock,
        provider=PROVIDER, provider_event_id=msg.event_id, timestamp=at, source_timestamp=at,
    )


def _odds_change(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    msg = _attrs(RawEventMessage, root, "/odds_change")
    fixture = _fixture(params)
    records: list[CanonicalRecord] = []
    status_el = root.find("sport_event_status")
    if status_el is not None and fixture is not None:
        path = "/odds_change/sport_event_status"
        st = _attrs(RawSportEventStatus, status_el, path)
        status = event_status(st.status, st.match_status, path)
        in_play = status in IN_PLAY
        clock_el = status_el.find("clock")
        clock = clock_el.get("match_time") if clock_el is not None and in_play else None
        period = MATCH_STATUS_NAMES[st.match_status] if st.match_status is not None and in_play else None
        score = Score(home=_int_score(st.home_score, f"{path}@home_score"),
                      away=_int_score(st.away_score, f"{path}@away_score"))
        records.append(_event(msg, fixture, status, score=score, period=period, clock=clock))
    for i, market_el in enumerate(root.findall("odds/market"), 1):
        market = _market(market_el, msg, fixture, f"/odds_change/odds/market[{i}]")
        if market is not None:
            records.append(market)
    return records


def _bet_stop(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """The event's markets as last priced (`LAST_ODDS_PARAM`, carried by the connector), suspended."""
    msg = _attrs(RawEventMessage, root, "/bet_stop")
    last = params.get(LAST_ODDS_PARAM)
    if not last:
        return []  # no prices seen for this event yet: nothing is shown, so nothing to suspend
    at = from_epoch_ms(msg.timestamp)
    try:
        priced = _odds_change(parse_xml(last), params)
    except NormalizationError as exc:
        reason = f"the carried odds_change is not valid: {exc.reason}"
        raise NormalizationError(PROVIDER, FEED, reason, f"params.{LAST_ODDS_PARAM}{exc.path}") from exc
    return [r.model_copy(update={"suspended": True, "timestamp": at, "source_timestamp": at})
            for r in priced if isinstance(r, Odds) and r.provider_event_id == msg.event_id]


def _fixture_change(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    msg = _attrs(RawFixtureChange, root, "/fixture_change")
    fixture = _fixture(params)
    if fixture is None or msg.status is None:
        return []
    status = event_status(msg.status, None, "/fixture_change")
    start = from_epoch_ms(msg.start_time) if msg.start_time is not None else None
    return [_event(msg, fixture, status, start=start)]


def _nothing(model: type[RawMessage]) -> Callable[[Element, Mapping[str, str]], list[CanonicalRecord]]:
    def handle(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
        _attrs(model, root, f"/{root.tag}")  # still refuse a message that breaks the schema
        return []

    return handle


HANDLERS: Mapping[str, Callable[[Element, Mapping[str, str]], list[CanonicalRecord]]] = {
    "odds_change": _odds_change,
    "fixture_change": _fixture_change,
    "bet_stop": _bet_stop,
    **SETTLEMENT_HANDLERS,
    "alive": _nothing(RawMessage),
    "snapshot_complete": _nothing(RawMessage),
}


@feed(PROVIDER, FEED, content_type="xml")
def normalize_uof(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """Unified Odds Feed message (XML): odds_change -> Odds (+ Event with fixture params)."""
    root = parse_xml(payload)
    handler = HANDLERS.get(root.tag)
    if handler is None:
        raise NormalizationError(PROVIDER, FEED, f"unknown message type {root.tag!r}", f"/{root.tag}")
    return handler(root, params)
