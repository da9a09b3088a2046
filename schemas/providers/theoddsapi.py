"""The Odds API v4: `/v4/sports/{sport}/odds` and `/v4/sports/{sport}/scores`.

Format facts this module relies on:
- No team ids: outcomes and scores name teams by their display string, so we match by name.
- `price` is decimal by default or American with `oddsFormat=american`; the payload does not
  say which, so the request's `oddsFormat` param decides.
- `/odds` carries no status: an event is in play once `commence_time` has passed.
- `/scores` scores are strings, `null` before the start; `completed` is the only status.

Times and statuses, and who says so: `commence_time` and every `last_update` (event, bookmaker, market) are
ISO-8601 UTC with `Z` (The Odds API v4 docs; `dateFormat=unix` would send epoch seconds, which we never
request); `/scores` has `completed` true/false and no other status (v4 docs, `/scores` response). An event
is live when its `commence_time` has passed at the response's receive time (v4 docs: `/odds` drops
completed events and says nothing else about state).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.canonical import CanonicalRecord, Event, Market, Odds, Outcome, Score, Side, Sport, Status
from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.odds import OddsFormatError, american_to_decimal, decimal_price
from schemas.providers import feed, reference
from schemas.providers._common import expect_list, provisional_event_id, team_reference, validate
from schemas.reference import TeamReference
from schemas.timeutil import parse_iso

PROVIDER = "theoddsapi"
_NO_SCORE = Score()  # a game not started yet; frozen, so one instance serves every record

MARKETS: Mapping[str, str] = {"h2h": Market.MONEYLINE, "spreads": Market.SPREAD, "totals": Market.TOTAL}
SPORT_PREFIXES: Mapping[str, Sport] = {
    "americanfootball": Sport.AMERICANFOOTBALL,
    "basketball": Sport.BASKETBALL,
    "baseball": Sport.BASEBALL,
    "icehockey": Sport.ICEHOCKEY,
    "soccer": Sport.SOCCER,
    "tennis": Sport.TENNIS,
    "cricket": Sport.CRICKET,
    "rugbyleague": Sport.RUGBY,
    "rugbyunion": Sport.RUGBY,
    "mma": Sport.MMA,
    "motorsport": Sport.MOTORSPORT,
}


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RawOutcome(_Raw):
    name: str
    price: float
    point: float | None = None


class RawMarket(_Raw):
    key: str
    last_update: datetime | None = None
    outcomes: list[RawOutcome]


class RawBookmaker(_Raw):
    key: str
    title: str | None = None
    last_update: datetime | None = None
    markets: list[RawMarket]


class RawOddsEvent(_Raw):
    id: str
    sport_key: str
    sport_title: str | None = None
    commence_time: datetime
    home_team: str
    away_team: str
    bookmakers: list[RawBookmaker] = []


class RawTeamScore(_Raw):
    name: str
    score: str | int


class RawScoresEvent(_Raw):
    id: str
    sport_key: str
    sport_title: str | None = None
    commence_time: datetime
    completed: bool
    home_team: str
    away_team: str
    scores: list[RawTeamScore] | None = None
    last_update: datetime | None = None


def sport_of(sport_key: str) -> Sport:
    return SPORT_PREFIXES.get(sport_key.split("_", 1)[0], Sport.OTHER)


def league_of(sport_key: str, sport_title: str | None) -> str:
    return sport_title or sport_key.split("_", 1)[-1].upper()


def _received_at(params: Mapping[str, str]) -> datetime | None:
    text = params.get(RECEIVED_AT_PARAM)
    return parse_iso(text) if text else None


def _side(name: str, event: RawOddsEvent, market: str, path: str) -> str:
    if name == event.home_team:
        return Side.HOME
    if name == event.away_team:
        return Side.AWAY
    lowered = name.lower()
    if lowered in {"draw", "tie"}:
        return Side.DRAW
    if lowered in {"over", "under"}:
        return lowered
    if market in MARKETS:
        raise NormalizationError(PROVIDER, "odds", f"outcome {name!r} matches neither team", path)
    return lowered


@feed(PROVIDER, "odds")
def normalize_odds(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """v4 /odds: one odds record per bookmaker and market, plus the event it belongs to."""
    american = params.get("oddsFormat", "decimal").lower() == "american"
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for i, item in enumerate(expect_list(payload, PROVIDER, "odds")):
        event = validate(RawOddsEvent, item, PROVIDER, "odds", f"$[{i}]")
        event_id = provisional_event_id(PROVIDER, event.id)
        sport, league = sport_of(event.sport_key), league_of(event.sport_key, event.sport_title)
        in_play = received_at is not None and event.commence_time <= received_at
        newest = max((b.last_update for b in event.bookmakers if b.last_update), default=None)
        records.append(
            Event(
                id=event_id, sport=sport, league=league, home_team=event.home_team, away_team=event.away_team,
                status=Status.LIVE if in_play else Status.SCHEDULED, start_time=event.commence_time,
                provider=PROVIDER, provider_event_id=event.id,
                timestamp=received_at or newest or event.commence_time, source_timestamp=newest,
            )
        )
        for b, book in enumerate(event.bookmakers):
            for m, market in enumerate(book.markets):
                path = f"$[{i}].bookmakers[{b}].markets[{m}]"
                outcomes = [
                    Outcome(
                        side=_side(o.name, event, market.key, f"{path}.outcomes[{k}].name"),
                        price=_price(o.price, american, f"{path}.outcomes[{k}].price"),
                        point=o.point,
                    )
                    for k, o in enumerate(market.outcomes)
                ]
                if not outcomes:
                    continue  # a market without prices says nothing (an odds record has at least one outcome)
                updated = market.last_update or book.last_update
                records.append(
                    Odds(
                        event_id=event_id, provider=PROVIDER, provider_event_id=event.id, sport=sport,
                        league=league, home_team=event.home_team, away_team=event.away_team,
                        bookmaker=book.key.lower(), market=MARKETS.get(market.key, market.key),
                        outcomes=outcomes, timestamp=updated or received_at or event.commence_time,
                        source_timestamp=updated,
                    )
                )
    return records


def _price(value: float, american: bool, path: str) -> float:
    try:
        return american_to_decimal(value) if american else decimal_price(value)
    except OddsFormatError as exc:
        raise NormalizationError(PROVIDER, "odds", str(exc), path) from exc


@feed(PROVIDER, "scores")
def normalize_scores(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """v4 /scores: one event per game; string scores matched to teams by name."""
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for i, item in enumerate(expect_list(payload, PROVIDER, "scores")):
        game = validate(RawScoresEvent, item, PROVIDER, "scores", f"$[{i}]")
        score = _NO_SCORE
        if game.scores is not None:
            by_name = {s.name: _int_score(s.score, i, k) for k, s in enumerate(game.scores)}
            unknown = set(by_name) - {game.home_team, game.away_team}
            if unknown:
                reason = f"score for unknown team {sorted(unknown)}"
                raise NormalizationError(PROVIDER, "scores", reason, f"$[{i}].scores")
            score = Score(home=by_name.get(game.home_team), away=by_name.get(game.away_team))
        if game.completed:
            status = Status.FINAL
        elif game.scores is not None or (received_at is not None and game.commence_time <= received_at):
            status = Status.LIVE
        else:
            status = Status.SCHEDULED
        records.append(
            Event(
                id=provisional_event_id(PROVIDER, game.id), sport=sport_of(game.sport_key),
                league=league_of(game.sport_key, game.sport_title), home_team=game.home_team,
                away_team=game.away_team, score=score, status=status, start_time=game.commence_time,
                provider=PROVIDER, provider_event_id=game.id,
                timestamp=game.last_update or received_at or game.commence_time, source_timestamp=game.last_update,
            )
        )
    return records


def _int_score(value: str | int, game: int, team: int) -> int:
    """A team's score; the error's path names the game and the team (built only on an error)."""
    text = str(value).strip()
    if not text.isdigit():
        raise NormalizationError(PROVIDER, "scores", f"score {value!r} is not a non-negative integer",
                                 f"$[{game}].scores[{team}].score")
    return int(text)


@reference("theoddsapi")
def participants(payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """`/v4/sports/{sport}/participants`: `[{full_name, id}]` (no short names or codes)."""
    return [team_reference("theoddsapi", params, t["id"], t["full_name"])
            for t in expect_list(payload, "theoddsapi", "teams")]
