"""The XML layer of Sportradar's Unified Odds Feed shared by its normalizers (`sportradar_uof.py`,
`_uof_settlements.py`): safe parsing, root attributes as models with located errors, market specifiers,
the markets we map to canonical names, and the fixture the connector adds as params."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.canonical import Market, Side, Sport
from schemas.errors import NormalizationError
from schemas.timeutil import parse_iso

PROVIDER = "sportradar"
FEED = "uof"
BOOKMAKER = "sportradar"
FIXTURE_PARAMS = ("home_team", "away_team", "start_time", "sport", "league")

@dataclass(frozen=True, slots=True)
class MarketSpec:
    name: str
    sides: Mapping[str, Side]
    line: Callable[[Mapping[str, str]], float] | None = None


def _total(spec: Mapping[str, str]) -> float:
    return float(spec["total"])


def _goal_handicap(spec: Mapping[str, str]) -> float:
    home, away = spec["hcp"].split(":")
    return float(Decimal(home) - Decimal(away))


def _line_handicap(spec: Mapping[str, str]) -> float:
    return float(spec["hcp"])


MARKETS: Mapping[int, MarketSpec] = {
    1: MarketSpec(Market.MONEYLINE, {"1": Side.HOME, "2": Side.DRAW, "3": Side.AWAY}),
    18: MarketSpec(Market.TOTAL, {"12": Side.OVER, "13": Side.UNDER}, _total),
    14: MarketSpec(Market.SPREAD, {"1711": Side.HOME, "1712": Side.DRAW, "1713": Side.AWAY}, _goal_handicap),
    16: MarketSpec(Market.SPREAD, {"1714": Side.HOME, "1715": Side.AWAY}, _line_handicap),
}

# Totals are the same line for both sides; spreads flip sign for the away side.
POINT_SIGN: Mapping[str, int] = {Side.HOME: 1, Side.DRAW: 1, Side.AWAY: -1, Side.OVER: 1, Side.UNDER: 1}

class UofRaw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


M = TypeVar("M", bound=UofRaw)


class RawMessage(UofRaw):
    product: int
    timestamp: int = Field(ge=0)
    event_id: str | None = None


class RawEventMessage(RawMessage):
    event_id: str = Field(min_length=1)



def attrs(model: type[M], el: Element, path: str) -> M:
    try:
        return model.model_validate(dict(el.attrib))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f"@{first['loc'][0]}" if first["loc"] else ""
        raise NormalizationError(PROVIDER, FEED, first["msg"], f"{path}{where}") from exc


def parse_xml(payload: Any) -> Element:
    """Parse untrusted XML text; DTDs/entities and malformed input become `NormalizationError`."""
    if not isinstance(payload, str | bytes):
        raise NormalizationError(PROVIDER, FEED, f"expected XML text, got {type(payload).__name__}", "/")
    try:
        root: Element = fromstring(payload, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise NormalizationError(PROVIDER, FEED, f"unsafe XML refused ({type(exc).__name__})", "/") from exc
    except ParseError as exc:
        raise NormalizationError(PROVIDER, FEED, f"malformed XML: {exc}", "/") from exc
    return root



def specifiers(text: str | None, path: str) -> dict[str, str]:
    if not text:
        return {}
    pairs = [part.partition("=") for part in text.split("|")]
    if any(not sep or not key for key, sep, _ in pairs):
        raise NormalizationError(PROVIDER, FEED, f"malformed specifiers {text!r}", f"{path}@specifiers")
    return {key: value for key, _, value in pairs}


def market_name(market_id: int, specs: Mapping[str, str]) -> str:
    """`sr_market_68[total=2.5]`: unmapped markets keep their line in the name ('|' is the key separator)."""
    line = ",".join(f"{key}={value}" for key, value in specs.items())
    return f"sr_market_{market_id}[{line}]" if line else f"sr_market_{market_id}"


def fixture_of(params: Mapping[str, str]) -> tuple[Sport, str, str, str, datetime] | None:
    if not all(params.get(name) for name in FIXTURE_PARAMS):
        return None
    try:
        return (
            Sport(params["sport"]), params["league"], params["home_team"], params["away_team"],
            parse_iso(params["start_time"]),
        )
    except ValueError as exc:
        raise NormalizationError(PROVIDER, FEED, f"bad fixture params: {exc}", "params") from exc
