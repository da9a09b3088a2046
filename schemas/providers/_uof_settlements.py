"""UOF settlement messages -> `Settlement` records (feed "uof" of provider "sportradar").

What each message becomes (UOF message docs "Bet settlement", "Bet cancel", "Rollback bet settlement",
"Rollback bet cancel"; the SDKs' `IBetSettlement`, `IBetCancel`, `IRollbackBetCancel`):
- `bet_settlement` (`certainty` 1: scouted live, 2: the confirmed official result): one `kind: result` per
  `<outcomes>/<market>`, each `<outcome>` with `result` 0 (lost) or 1 (won), an optional `void_factor`
  (0.5: half the stake refunded, 1: all of it) and `dead_heat_factor`. The market's `void_reason` id is named
  from the UOF void reason descriptions.
- `bet_cancel`: one `kind: void` per `<market>`; `start_time`/`end_time` (epoch ms, either optional) bound the
  bets placed that are void, `superceded_by` names the event the market moved to.
- `rollback_bet_settlement`: per `<market>`, the `result` with `rolledBack: true` and no outcomes.
- `rollback_bet_cancel`: per `<market>`, the `void` of the same `start_time`/`end_time` with `rolledBack: true`
  (UOF: only the cancellation of that range is taken back).
Markets and outcome sides are named as in `odds_change` (1x2, totals, handicaps: `_uof_xml.MARKETS`; other
markets `sr_market_<id>[<specifiers>]` with the raw outcome ids), and `specifiers` keeps the line, so each
line of a market is settled on its own. Teams, sport and league come from the fixture params the connector
adds, as for odds. Times: `timestamp`, `start_time` and `end_time` are epoch milliseconds, UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Literal
from xml.etree.ElementTree import Element

from pydantic import Field

from schemas.canonical import CanonicalRecord, SettledOutcome, Settlement
from schemas.errors import NormalizationError
from schemas.providers._common import provisional_event_id
from schemas.providers._uof_xml import (
    BOOKMAKER,
    FEED,
    MARKETS,
    POINT_SIGN,
    PROVIDER,
    RawEventMessage,
    UofRaw,
    attrs,
    fixture_of,
    market_name,
    specifiers,
)
from schemas.timeutil import from_epoch_ms

# REST /v1/descriptions/void_reasons.xml (UOF "Bet settlement": void reasons), complete.
VOID_REASONS: Mapping[int, str] = {
    0: "OTHER", 1: "NO_GOALSCORER", 2: "CORRECT_SCORE_MISSING", 3: "RESULT_UNVERIFIABLE", 4: "FORMAT_CHANGE",
    5: "CANCELLED_EVENT", 6: "MISSING_GOALSCORER", 7: "MATCH_ENDED_IN_WALKOVER", 8: "DEAD_HEAT",
    9: "RETIRED_OR_DEFAULTED", 10: "EVENT_ABANDONED", 11: "EVENT_POSTPONED", 12: "INCORRECT_ODDS",
    13: "INCORRECT_STATISTICS", 14: "NO_RESULT_ASSIGNABLE", 15: "CLIENT_SIDE_SETTLEMENT_NEEDED",
    16: "STARTING_PITCHER_CHANGED",
}
CERTAINTY: Mapping[int, Literal["live", "confirmed"]] = {1: "live", 2: "confirmed"}


class RawSettlement(RawEventMessage):
    certainty: int | None = None


class RawCancel(RawEventMessage):
    start_time: int | None = Field(None, ge=0)
    end_time: int | None = Field(None, ge=0)
    superceded_by: str | None = None


class RawSettledMarket(UofRaw):
    id: int
    specifiers: str | None = None
    void_reason: int | None = None


class RawSettledOutcome(UofRaw):
    id: str = Field(min_length=1)
    result: int = Field(ge=0, le=1)
    void_factor: Decimal = Field(Decimal(0), ge=0, le=1)
    dead_heat_factor: Decimal | None = Field(None, gt=0, le=1)


def _void_reason(code: int | None) -> str | None:
    return None if code is None else VOID_REASONS.get(code, f"VOID_REASON_{code}")


def _settlements(root: Element, tag: str, model: type[RawEventMessage], markets_path: str, *,
                 build: Callable[[RawEventMessage, Element, RawSettledMarket, dict[str, str], str],
                                 dict[str, object]],
                 params: Mapping[str, str]) -> list[CanonicalRecord]:
    """One Settlement per market element, `build` adding what the message type says of it."""
    msg = attrs(model, root, f"/{tag}")
    fixture = fixture_of(params)
    sport, league, home, away, _ = fixture or (None, None, None, None, None)
    at = from_epoch_ms(msg.timestamp)
    records: list[CanonicalRecord] = []
    for i, el in enumerate(root.findall(markets_path), 1):
        path = f"/{tag}/{markets_path}[{i}]"
        market = attrs(RawSettledMarket, el, path)
        specs = specifiers(market.specifiers, path)
        spec = MARKETS.get(market.id)
        fields = build(msg, el, market, specs, path)
        try:
            records.append(Settlement(
                event_id=provisional_event_id(PROVIDER, msg.event_id), provider_event_id=msg.event_id,
                provider=PROVIDER, sport=sport, league=league, home_team=home, away_team=away, bookmaker=BOOKMAKER,
                market=spec.name if spec else market_name(market.id, specs), specifiers=market.specifiers or "",
                timestamp=at, source_timestamp=at, **fields,
            ))
        except ValueError as exc:
            raise NormalizationError(PROVIDER, FEED, str(exc).splitlines()[0], path) from exc
    return records


def _outcome(market: RawSettledMarket, specs: Mapping[str, str], el: Element, path: str) -> SettledOutcome:
    out = attrs(RawSettledOutcome, el, path)
    spec = MARKETS.get(market.id)
    side: str = out.id
    point = None
    if spec is not None:
        mapped = spec.sides.get(out.id)
        if mapped is None:
            raise NormalizationError(PROVIDER, FEED, f"outcome {out.id} is not part of market {market.id}",
                                     f"{path}@id")
        side = mapped
        try:
            point = spec.line(specs) * POINT_SIGN[mapped] if spec.line else None
        except (KeyError, ValueError, InvalidOperation) as exc:
            reason = f"market {market.id} needs a numeric line in specifiers, got {market.specifiers!r}"
            raise NormalizationError(PROVIDER, FEED, reason, f"{path}@specifiers") from exc
    return SettledOutcome(
        side=side, point=point, result="won" if out.result == 1 else "lost", void_factor=float(out.void_factor),
        dead_heat_factor=float(out.dead_heat_factor) if out.dead_heat_factor is not None else None,
    )


def _result(msg: RawEventMessage, el: Element, market: RawSettledMarket, specs: dict[str, str],
            path: str) -> dict[str, object]:
    certainty = msg.certainty if isinstance(msg, RawSettlement) else None
    outcomes = [_outcome(market, specs, out_el, f"{path}/outcome[{k}]")
                for k, out_el in enumerate(el.findall("outcome"), 1)]
    return {"kind": "result", "certainty": CERTAINTY.get(certainty) if certainty is not None else None,
            "outcomes": outcomes, "void_reason": _void_reason(market.void_reason)}


def _void(msg: RawEventMessage, el: Element, market: RawSettledMarket, specs: dict[str, str],
          path: str) -> dict[str, object]:
    start, end = (msg.start_time, msg.end_time) if isinstance(msg, RawCancel) else (None, None)
    return {"kind": "void", "void_reason": _void_reason(market.void_reason),
            "superseded_by": msg.superceded_by if isinstance(msg, RawCancel) else None,
            "void_from": from_epoch_ms(start) if start is not None else None,
            "void_to": from_epoch_ms(end) if end is not None else None}


def _rolled_back(build: Callable[[RawEventMessage, Element, RawSettledMarket, dict[str, str], str],
                                 dict[str, object]]) -> Callable[..., dict[str, object]]:
    def undo(msg: RawEventMessage, el: Element, market: RawSettledMarket, specs: dict[str, str],
             path: str) -> dict[str, object]:
        fields = build(msg, el, market, specs, path)
        return {**fields, "outcomes": [], "rolled_back": True}

    return undo


def bet_settlement(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    return _settlements(root, "bet_settlement", RawSettlement, "outcomes/market", build=_result, params=params)


def bet_cancel(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    return _settlements(root, "bet_cancel", RawCancel, "market", build=_void, params=params)


def rollback_bet_settlement(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    return _settlements(root, "rollback_bet_settlement", RawEventMessage, "market", build=_rolled_back(_result),
                        params=params)


def rollback_bet_cancel(root: Element, params: Mapping[str, str]) -> list[CanonicalRecord]:
    return _settlements(root, "rollback_bet_cancel", RawCancel, "market", build=_rolled_back(_void), params=params)


SETTLEMENT_HANDLERS: Mapping[str, Callable[[Element, Mapping[str, str]], list[CanonicalRecord]]] = {
    "bet_settlement": bet_settlement,
    "bet_cancel": bet_cancel,
    "rollback_bet_settlement": rollback_bet_settlement,
    "rollback_bet_cancel": rollback_bet_cancel,
}
