"""SportsDataIO: v3 US-league scores and odds, v4 soccer scores.

Field by field, and which source says so ("models" = SportsDataIO's own .NET client models,
`FantasyData.Api.Client.Model.<Sport>`, whose descriptions are the vendor's data dictionary):
- US leagues (v3): `DateTime`, `Day`, NFL `Date` are US-Eastern wall time without offset (models: "The
  date and time of the game in US Eastern Time"); `DateTimeUTC` is UTC ("The date and time of the game
  (in UTC)") and wins when present. The samples agree: ScoresBasic `DateTime` 16:10 vs `DateTimeUTC` 20:10.
- Soccer (v4): `DateTime` and `Day` are UTC (models, Soccer `Game`: "The date/time that the game is
  scheduled to be played in UTC"; `GameInfoResult`: "The date and time of the game (in UTC)").
  `Updated` is US Eastern in every sport ("based on US Eastern Time (EST/EDT)"), `UpdatedUtc` UTC; the UCL
  sample has `Updated` 05:46:08 and `UpdatedUtc` 09:46:08 (EDT). `LastUpdated` and odds lines' `Created`
  / `Updated` are US Eastern (models: "(in US Eastern Time)").
- Statuses, US leagues (data dictionary, samples): Scheduled, InProgress, Final, F/OT, F/SO, Suspended,
  Postponed, Delayed, Canceled, Forfeit, NotNecessary. Soccer (models, Soccer `Game.Status`): Scheduled,
  InProgress, Break (half-time), Final, Awarded (decided by the league, e.g. 3:0: final), Postponed,
  Canceled, Suspended.
- Soccer `Period` is how the game ended (models: "The final period of the game. Possible values:
  Regular, ExtraTime, PenaltyShootout"), not the current half, so it is the period only of a final game;
  `Clock` is the minute while in progress ("NULL" before and after).
- Field-name casing differs by endpoint and sport (`GameID` vs `GameId`, `DateTimeUTC`), so raw
  models match keys case-insensitively; error paths use the PascalCase spelling (`$[0].HomeScore`).
- Ids are per sport (`GameID` 49127 is MLB-only), so provider event ids are `nfl:17660`-style.
  NFL score objects name the game `ScoreID`; every other object has `GameID`.
- Teams are keys (`PIT`); soccer v4 has full names (`HomeTeamName`). Odds objects put the key
  in `HomeTeamName`.
- `Status` and the closed flags are both trusted: `IsClosed`/`Closed`/`IsOver` turn an
  in-progress game final (the MLB sample has `InProgress` with `IsClosed: true`).
- Odds are always American. Trial keys scramble sportsbook names (`"Scrambled"`), so those
  books are keyed by `SportsbookId` instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt, model_validator
from pydantic.alias_generators import to_pascal

from schemas.canonical import CanonicalRecord, Event, Market, Odds, Outcome, Score, Side, Sport, Status
from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.odds import OddsFormatError, american_to_decimal
from schemas.providers import feed, reference
from schemas.providers._common import expect_list, provisional_event_id, slug, team_reference, validate
from schemas.reference import TeamReference
from schemas.timeutil import US_EASTERN, parse_iso, to_utc

PROVIDER = "sportsdataio"

# Request param `sport` -> (canonical sport, league, home/away score fields of that sport's game object).
SPORTS: Mapping[str, tuple[Sport, str, tuple[str, str]]] = {
    "nfl": (Sport.AMERICANFOOTBALL, "NFL", ("home_score", "away_score")),
    "nba": (Sport.BASKETBALL, "NBA", ("home_team_score", "away_team_score")),
    "mlb": (Sport.BASEBALL, "MLB", ("home_team_runs", "away_team_runs")),
    "nhl": (Sport.ICEHOCKEY, "NHL", ("home_team_score", "away_team_score")),
}

# `Status`, compared lower-case. From the samples and the SportsDataIO data dictionary.
GAME_STATUSES: Mapping[str, Status] = {
    "scheduled": Status.SCHEDULED,
    "inprogress": Status.LIVE,
    "final": Status.FINAL,
    "f/ot": Status.FINAL,
    "f/so": Status.FINAL,
    "suspended": Status.SUSPENDED,
    "postponed": Status.POSTPONED,
    "delayed": Status.DELAYED,
    "canceled": Status.CANCELLED,
    "forfeit": Status.FINAL,
    "notnecessary": Status.CANCELLED,
}
# Soccer v4 `Status` (models, Soccer `Game`): the US vocabulary plus Break (half-time) and Awarded.
SOCCER_STATUSES: Mapping[str, Status] = {
    **GAME_STATUSES, "break": Status.HALFTIME, "awarded": Status.FINAL,
}
# A live game's period that means the break (`Quarter: "Half"` in NFL/NBA).
BREAK_PERIODS: Mapping[str, Status] = {"half": Status.HALFTIME}
INNING_HALVES: Mapping[str, str] = {"T": "Top", "B": "Bottom"}
# `OddType` -> market-name suffix; full-game lines (pregame or live) keep the plain market name.
FULL_GAME_ODD_TYPES = frozenset({"pregame", "live"})
SCRAMBLED_SPORTSBOOK = "scrambled"


@functools.cache
def _aliases(model: type[BaseModel]) -> dict[str, str]:
    return {(info.alias or name).lower(): info.alias or name for name, info in model.model_fields.items()}


class _Raw(BaseModel):
    """Raw object whose keys are matched case-insensitively against PascalCase aliases."""

    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_pascal)

    @model_validator(mode="before")
    @classmethod
    def _fold_case(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        aliases = _aliases(cls)
        return {aliases.get(k.lower(), k) if isinstance(k, str) else k: v for k, v in data.items()}


class _RawGameBase(_Raw):
    game_id: int | None = None
    score_id: int | None = None
    status: str
    date_time_utc: datetime | None = None
    date_time: datetime | None = None
    date: datetime | None = None
    day: datetime | None = None
    is_closed: bool | None = None
    closed: bool | None = None
    is_over: bool | None = None
    updated_utc: datetime | None = None
    updated: datetime | None = None
    last_updated: datetime | None = None


class RawGame(_RawGameBase):
    """v3 `Score` (NFL) / `Game` (NBA, MLB, NHL) from Scores, ScoresByDate, GamesByDate, ScoresBasic."""

    home_team: str
    away_team: str
    home_score: NonNegativeInt | None = None
    away_score: NonNegativeInt | None = None
    home_team_score: NonNegativeInt | None = None
    away_team_score: NonNegativeInt | None = None
    home_team_runs: NonNegativeInt | None = None
    away_team_runs: NonNegativeInt | None = None
    quarter: str | int | None = None
    period: str | int | None = None
    time_remaining: str | None = None
    time_remaining_minutes: NonNegativeInt | None = None
    time_remaining_seconds: NonNegativeInt | None = None
    inning: int | None = None
    inning_half: str | None = None


class RawSoccerGame(_RawGameBase):
    """v4 soccer `Game` from Schedules, SchedulesBasic, ScoresBasic, GamesByDate."""

    home_team_name: str
    away_team_name: str
    home_team_score: NonNegativeInt | None = None
    away_team_score: NonNegativeInt | None = None
    period: str | None = None
    clock: int | str | None = None


class RawOddsLine(_Raw):
    sportsbook: str | None = None
    sportsbook_id: int | None = None
    created: datetime | None = None
    updated: datetime | None = None
    home_money_line: int | None = None
    away_money_line: int | None = None
    draw_money_line: int | None = None
    home_point_spread: float | None = None
    away_point_spread: float | None = None
    home_point_spread_payout: int | None = None
    away_point_spread_payout: int | None = None
    over_under: float | None = None
    over_payout: int | None = None
    under_payout: int | None = None
    odd_type: str | None = None
    unlisted: datetime | None = None


class RawGameOdds(_RawGameBase):
    """`GameOdds` from GameOddsByDate / GameOddsByWeek / LiveGameOddsByDate."""

    home_team_name: str
    away_team_name: str
    home_team_score: NonNegativeInt | None = None
    away_team_score: NonNegativeInt | None = None
    pregame_odds: list[RawOddsLine] = []
    live_odds: list[RawOddsLine] = []


# (market, [(side, price field, point field)]) for each market a sportsbook line carries.
LINE_MARKETS: tuple[tuple[Market, tuple[tuple[Side, str, str | None], ...]], ...] = (
    (Market.MONEYLINE, ((Side.HOME, "home_money_line", None), (Side.AWAY, "away_money_line", None),
                        (Side.DRAW, "draw_money_line", None))),
    (Market.SPREAD, ((Side.HOME, "home_point_spread_payout", "home_point_spread"),
                     (Side.AWAY, "away_point_spread_payout", "away_point_spread"))),
    (Market.TOTAL, ((Side.OVER, "over_payout", "over_under"), (Side.UNDER, "under_payout", "over_under"))),
)


def _items(payload: Any, feed_slug: str) -> Iterator[tuple[str, Any]]:
    """A list endpoint's elements with their paths, or the one object a single-game endpoint returns."""
    if isinstance(payload, dict):
        yield "$", payload
    elif isinstance(payload, list):
        yield from ((f"$[{i}]", item) for i, item in enumerate(payload))
    else:
        raise NormalizationError(PROVIDER, feed_slug, f"expected a JSON array or object, got {type(payload).__name__}")


def _sport(params: Mapping[str, str], feed_slug: str) -> tuple[str, tuple[Sport, str, tuple[str, str]]]:
    key = params.get("sport", "").lower()
    if key not in SPORTS:
        reason = f"request param sport={params.get('sport')!r} is not one of {sorted(SPORTS)}"
        raise NormalizationError(PROVIDER, feed_slug, reason, "params.sport")
    return key, SPORTS[key]


def _received_at(params: Mapping[str, str]) -> datetime | None:
    text = params.get(RECEIVED_AT_PARAM)
    return parse_iso(text) if text else None


def _eastern(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value, US_EASTERN)


def _start_time(game: _RawGameBase, feed_slug: str, path: str, *, utc: bool = False) -> datetime:
    """`DateTimeUTC`, else `DateTime` / `Date` / `Day`: US Eastern in v3, UTC in soccer v4 (`utc`)."""
    if game.date_time_utc is not None:
        return to_utc(game.date_time_utc)
    local = game.date_time or game.date or game.day
    if local is None:
        raise NormalizationError(PROVIDER, feed_slug, "no DateTimeUTC, DateTime or Day", f"{path}.DateTime")
    return to_utc(local) if utc else to_utc(local, US_EASTERN)


def _updated(game: _RawGameBase) -> datetime | None:
    if game.updated_utc is not None:
        return to_utc(game.updated_utc)
    return _eastern(game.updated or game.last_updated)


def _status(game: _RawGameBase, period: str | None, feed_slug: str, path: str,
            statuses: Mapping[str, Status] = GAME_STATUSES) -> Status:
    status = statuses.get(game.status.strip().lower())
    if status is None:
        raise NormalizationError(PROVIDER, feed_slug, f"unknown game status {game.status!r}", f"{path}.Status")
    if status is Status.LIVE and period is not None:
        status = BREAK_PERIODS.get(period.lower(), status)
    if status in {Status.LIVE, Status.HALFTIME} and (game.is_closed or game.closed or game.is_over):
        status = Status.FINAL
    return status


def _game_id(game: _RawGameBase, feed_slug: str, path: str) -> int:
    game_id = game.game_id if game.game_id is not None else game.score_id
    if game_id is None:
        raise NormalizationError(PROVIDER, feed_slug, "no GameID or ScoreID", f"{path}.GameID")
    return game_id


def _clock(minutes: int | None, seconds: int | None) -> str | None:
    return None if minutes is None else f"{minutes}:{seconds or 0:02d}"


def _quarter_clock(game: RawGame) -> tuple[str | None, str | None]:
    period = None if game.quarter is None else str(game.quarter)
    return period, game.time_remaining or _clock(game.time_remaining_minutes, game.time_remaining_seconds)


def _period_clock(game: RawGame) -> tuple[str | None, str | None]:
    period = None if game.period is None else str(game.period)
    return period, _clock(game.time_remaining_minutes, game.time_remaining_seconds)


def _inning(game: RawGame) -> tuple[str | None, str | None]:
    if game.inning is None:
        return None, None
    half = INNING_HALVES.get(game.inning_half or "", game.inning_half)
    return (f"{half} {game.inning}" if half else str(game.inning)), None


PERIOD_AND_CLOCK: Mapping[str, Callable[[RawGame], tuple[str | None, str | None]]] = {
    "nfl": _quarter_clock,
    "nba": _quarter_clock,
    "nhl": _period_clock,
    "mlb": _inning,
}


@feed(PROVIDER, "scores")
def normalize_scores(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """v3 Scores/ScoresByDate/GamesByDate/ScoresBasic (NFL, NBA, MLB, NHL): one event per game."""
    key, (sport, league, (home_field, away_field)) = _sport(params, "scores")
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for path, item in _items(payload, "scores"):
        game = validate(RawGame, item, PROVIDER, "scores", path)
        period, clock = PERIOD_AND_CLOCK[key](game)
        status = _status(game, period, "scores", path)
        started = status is not Status.SCHEDULED
        score = Score(home=getattr(game, home_field), away=getattr(game, away_field)) if started else Score()
        provider_event_id = f"{key}:{_game_id(game, 'scores', path)}"
        updated = _updated(game)
        start_time = _start_time(game, "scores", path)
        records.append(
            Event(
                id=provisional_event_id(PROVIDER, provider_event_id), sport=sport, league=league,
                home_team=game.home_team, away_team=game.away_team, score=score, status=status,
                start_time=start_time, period=period if started else None,
                clock=clock if status is Status.LIVE else None, provider=PROVIDER,
                provider_event_id=provider_event_id, timestamp=updated or received_at or start_time,
                source_timestamp=updated,
            )
        )
    return records


@feed(PROVIDER, "soccer-scores")
def normalize_soccer_scores(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """v4 soccer Schedules/SchedulesBasic/ScoresBasic games; league is the `competition` param."""
    competition = params.get("competition", "").strip()
    if not competition:
        reason = "request param competition is missing"
        raise NormalizationError(PROVIDER, "soccer-scores", reason, "params.competition")
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for path, item in _items(payload, "soccer-scores"):
        game = validate(RawSoccerGame, item, PROVIDER, "soccer-scores", path)
        status = _status(game, None, "soccer-scores", path, SOCCER_STATUSES)
        started = status is not Status.SCHEDULED
        score = Score(home=game.home_team_score, away=game.away_team_score) if started else Score()
        provider_event_id = f"soccer:{_game_id(game, 'soccer-scores', path)}"
        updated = _updated(game)
        start_time = _start_time(game, "soccer-scores", path, utc=True)
        records.append(
            Event(
                id=provisional_event_id(PROVIDER, provider_event_id), sport=Sport.SOCCER,
                league=competition.upper(), home_team=game.home_team_name, away_team=game.away_team_name,
                score=score, status=status, start_time=start_time,
                # `Period` says how a game ended (Regular, ExtraTime, PenaltyShootout), not the current half.
                period=game.period if status is Status.FINAL else None,
                clock=f"{game.clock}'" if status is Status.LIVE and game.clock is not None else None,
                provider=PROVIDER, provider_event_id=provider_event_id,
                timestamp=updated or received_at or start_time, source_timestamp=updated,
            )
        )
    return records


def _bookmaker(line: RawOddsLine, path: str) -> str:
    name = (line.sportsbook or "").strip()
    if name and name.lower() != SCRAMBLED_SPORTSBOOK:
        return slug(name)
    if line.sportsbook_id is None:
        reason = "sportsbook has neither a usable name nor an id"
        raise NormalizationError(PROVIDER, "odds", reason, f"{path}.Sportsbook")
    return f"sportsbook-{line.sportsbook_id}"


def _market_suffix(line: RawOddsLine) -> str:
    odd_type = (line.odd_type or "pregame").strip().lower()
    return "" if odd_type in FULL_GAME_ODD_TYPES else f":{slug(odd_type)}"


def _outcomes(line: RawOddsLine, spec: tuple[tuple[Side, str, str | None], ...], path: str) -> list[Outcome]:
    outcomes = []
    for side, price_field, point_field in spec:
        american = getattr(line, price_field)
        point = getattr(line, point_field) if point_field else None
        if american is None or (point_field and point is None):
            continue
        try:
            price = american_to_decimal(american)
        except OddsFormatError as exc:
            raise NormalizationError(PROVIDER, "odds", str(exc), f"{path}.{to_pascal(price_field)}") from exc
        outcomes.append(Outcome(side=side, price=price, point=point))
    return outcomes


@feed(PROVIDER, "odds")
def normalize_odds(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """GameOddsByDate pregame and live: the game as an event, then one odds record per book and market.

    A sportsbook's live line supersedes its pregame line for the same market.
    """
    key, (sport, league, _) = _sport(params, "odds")
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for path, item in _items(payload, "odds"):
        game = validate(RawGameOdds, item, PROVIDER, "odds", path)
        status = _status(game, None, "odds", path)
        provider_event_id = f"{key}:{_game_id(game, 'odds', path)}"
        event_id = provisional_event_id(PROVIDER, provider_event_id)
        start_time = _start_time(game, "odds", path)
        updated = _updated(game)
        started = status is not Status.SCHEDULED
        records.append(
            Event(
                id=event_id, sport=sport, league=league, home_team=game.home_team_name,
                away_team=game.away_team_name, status=status, start_time=start_time,
                score=Score(home=game.home_team_score, away=game.away_team_score) if started else Score(),
                provider=PROVIDER, provider_event_id=provider_event_id,
                timestamp=updated or received_at or start_time, source_timestamp=updated,
            )
        )
        lines = [(f"{path}.LiveOdds[{k}]", line) for k, line in enumerate(game.live_odds)]
        lines += [(f"{path}.PregameOdds[{k}]", line) for k, line in enumerate(game.pregame_odds)]
        seen: set[tuple[str, str]] = set()
        for line_path, line in lines:
            bookmaker = _bookmaker(line, line_path)
            suffix = _market_suffix(line)
            if (bookmaker, suffix) in seen:
                continue
            seen.add((bookmaker, suffix))
            line_updated = _eastern(line.updated or line.created)
            for market, spec in LINE_MARKETS:
                outcomes = _outcomes(line, spec, line_path)
                if len(outcomes) < 2:
                    continue
                records.append(
                    Odds(
                        event_id=event_id, provider=PROVIDER, provider_event_id=provider_event_id, sport=sport,
                        league=league, home_team=game.home_team_name, away_team=game.away_team_name,
                        bookmaker=bookmaker, market=f"{market}{suffix}", outcomes=outcomes,
                        suspended=line.unlisted is not None,
                        timestamp=line_updated or received_at or start_time, source_timestamp=line_updated,
                    )
                )
    return records


@reference("sportsdataio")
def teams(payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """`/v3/{league}/scores/json/teams` ([{TeamID, Key, City, Name, FullName?}]) and v4 soccer
    `/v4/soccer/scores/json/Teams/{competition}` ([{TeamId, Key, Name, FullName, ShortName}])."""
    out = []
    for item in expect_list(payload, "sportsdataio", "teams"):
        t = {k.lower(): v for k, v in item.items()}  # `TeamID` in v3, `TeamId` in v4
        full = t.get("fullname") or " ".join(str(p) for p in (t.get("city"), t.get("name")) if p)
        short = t.get("shortname") or (t.get("name") if t.get("city") else None)
        out.append(team_reference("sportsdataio", params, t.get("teamid") or t.get("key"), full, short_name=short,
                                  abbreviation=t.get("key")))
    return out
