"""API-Sports: api-football v3 `fixtures`, api-basketball v1 `games`, api-formula-1 `races` and `rankings/races`.

Format facts this module relies on:
- Every body is an envelope `{get, parameters, errors, results, paging, response[]}`. Errors
  arrive with HTTP 200: `errors` is `[]` when fine, else an object such as
  `{"token": "..."}` or `{"rateLimit": "..."}` (sometimes a non-empty list), and `response` is `[]`.
- Ids are per sport (a football fixture id and a basketball game id can collide), so provider
  event ids are `football:1148845`, `basketball:425176`, `formula-1:1273`.
- Football `goals` is the current score (no shoot-out), null before kick-off. In `events`,
  `type: "Goal"` with `detail: "Missed Penalty"` is not a goal, shoot-out kicks carry
  `comments: "Penalty Shootout"`, and a goal event names the team it counts for (own goals too).
- Basketball `league.season` is a string or an int; `status.timer` is a string minute.
- Formula-1 `races` lists every session (practice, qualifying, sprint, race) with no results;
  `rankings/races` lists results but no race name, date or season: the connector passes those
  from `/races?id=` as the params `_race_name`, `_race_start` (ISO-8601) and `_season`
  (optionally `_race_status`, an api-formula-1 status, default `Completed`).

Times and statuses, and who says so: football `fixture.date`, basketball `date` and formula-1 race
`date` are ISO-8601 with an offset, UTC unless the request sets `timezone` (API-Football v3 docs,
"timezone" parameter; `fixture.timezone` echoes it), so the offset is always honoured, never assumed;
`fixture.timestamp` / `timestamp` are epoch seconds. Status codes are the documented `status.short`
lists (API-Football v3 "fixture statuses": TBD NS 1H HT 2H ET BT P SUSP INT FT AET PEN PST CANC ABD AWD
WO LIVE; api-basketball v1: NS Q1-Q4 OT BT HT FT AOT POST CANC SUSP AWD ABD), in `_apisports_status.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt

from schemas.canonical import CanonicalRecord, Event, RaceEntry, RaceResult, Score, Sport, Status
from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.providers import feed, reference
from schemas.providers._apisports_status import BASKETBALL_STATUSES, FOOTBALL_STATUSES, FORMULA1_STATUSES, lookup
from schemas.providers._common import provisional_event_id, team_reference, validate
from schemas.reference import TeamReference
from schemas.timeutil import parse_iso

PROVIDER = "apisports"
ENVELOPE_KEYS = frozenset({"get", "errors", "response"})
GLOBAL_COUNTRIES = frozenset({"World"})
# Football `events[].detail` values of `type: "Goal"` that do not change the score.
NOT_GOALS = frozenset({"Missed Penalty"})
SHOOTOUT_COMMENT = "Penalty Shootout"
# Formula-1 session types that produce a race result, and the suffix their name gets.
F1_RACE_TYPES: Mapping[str, str] = {"Race": "", "Sprint": " (Sprint)"}
F1_NOT_RUNNING = frozenset({"DNF", "DNS", "DSQ", "NC"})
F1_SERIES = "Formula 1"


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RawEnvelope(_Raw):
    get: str | None = None
    response: list[Any]


class RawTeam(_Raw):
    id: int | None = None
    name: str


class RawTeams(_Raw):
    home: RawTeam
    away: RawTeam


class RawFootballStatus(_Raw):
    short: str
    elapsed: int | None = None
    extra: int | None = None


class RawFixtureInfo(_Raw):
    id: int
    date: datetime
    status: RawFootballStatus


class RawLeague(_Raw):
    name: str
    country: str | None = None


class RawGoals(_Raw):
    home: NonNegativeInt | None = None
    away: NonNegativeInt | None = None


class RawEventTeam(_Raw):
    id: int | None = None


class RawFixtureEvent(_Raw):
    team: RawEventTeam
    type: str
    detail: str | None = None
    comments: str | None = None


class RawFixture(_Raw):
    fixture: RawFixtureInfo
    league: RawLeague
    teams: RawTeams
    goals: RawGoals = RawGoals()
    events: list[RawFixtureEvent] = []


class RawBasketballStatus(_Raw):
    short: str
    timer: str | int | None = None


class RawCountry(_Raw):
    name: str | None = None


class RawSideScore(_Raw):
    total: NonNegativeInt | None = None


class RawSideScores(_Raw):
    home: RawSideScore = RawSideScore()
    away: RawSideScore = RawSideScore()


class RawGame(_Raw):
    id: int
    date: datetime
    status: RawBasketballStatus
    league: RawLeague
    country: RawCountry | None = None
    teams: RawTeams
    scores: RawSideScores = RawSideScores()


class RawCompetition(_Raw):
    name: str


class RawRace(_Raw):
    id: int
    competition: RawCompetition
    season: int | str
    type: str
    date: datetime
    status: str


class RawRaceRef(_Raw):
    id: int


class RawDriver(_Raw):
    name: str


class RawRanking(_Raw):
    race: RawRaceRef
    driver: RawDriver
    team: RawTeam | None = None
    position: int | None = None
    time: str | None = None
    laps: NonNegativeInt | None = None
    gap: str | None = None


def _received_at(params: Mapping[str, str]) -> datetime | None:
    text = params.get(RECEIVED_AT_PARAM)
    return parse_iso(text) if text else None


def _check_errors(payload: Mapping[str, Any], feed_slug: str) -> None:
    """API-Sports reports errors with HTTP 200: a non-empty `errors` object or list."""
    errors = payload.get("errors")
    if isinstance(errors, dict) and errors:
        key = next(iter(errors))
        reason = "provider error: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
        raise NormalizationError(PROVIDER, feed_slug, reason, f"$.errors.{key}")
    if isinstance(errors, list) and errors:
        raise NormalizationError(PROVIDER, feed_slug, f"provider error: {errors[0]}", "$.errors[0]")


def _items(payload: Any, feed_slug: str) -> tuple[str | None, list[tuple[str, Any]]]:
    """The endpoint (`get`) and the `response[]` items with their paths.

    Takes the whole envelope, or (as a connector may publish one entity per record) a bare
    `response[]` item or list of items, for which the endpoint is unknown (None).
    """
    if isinstance(payload, dict) and not ENVELOPE_KEYS.isdisjoint(payload):
        _check_errors(payload, feed_slug)
        envelope = validate(RawEnvelope, payload, PROVIDER, feed_slug)
        return envelope.get, [(f"$.response[{i}]", item) for i, item in enumerate(envelope.response)]
    if isinstance(payload, dict):
        return None, [("$", payload)]
    if isinstance(payload, list):
        return None, [(f"$[{i}]", item) for i, item in enumerate(payload)]
    reason = f"expected an API-Sports envelope, object or array, got {type(payload).__name__}"
    raise NormalizationError(PROVIDER, feed_slug, reason)


def _league(league: RawLeague, country: str | None) -> str:
    return league.name if not country or country in GLOBAL_COUNTRIES else f"{league.name} ({country})"


def _goals_from_events(fixture: RawFixture, path: str) -> Score:
    """Count the goal events per team; missed penalties and shoot-out kicks do not count."""
    counts = {fixture.teams.home.id: 0, fixture.teams.away.id: 0}
    for k, event in enumerate(fixture.events):
        if event.type != "Goal" or event.detail in NOT_GOALS or event.comments == SHOOTOUT_COMMENT:
            continue
        if event.team.id not in counts:
            reason = f"goal event for team {event.team.id}, which plays neither home nor away"
            raise NormalizationError(PROVIDER, "football-fixtures", reason, f"{path}.events[{k}].team.id")
        counts[event.team.id] += 1
    return Score(home=counts[fixture.teams.home.id], away=counts[fixture.teams.away.id])


def _football_clock(status: RawFootballStatus) -> str | None:
    if status.elapsed is None:
        return None
    return f"{status.elapsed}+{status.extra}'" if status.extra else f"{status.elapsed}'"


@feed(PROVIDER, "football-fixtures")
def normalize_football_fixtures(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """api-football v3 /fixtures: one event per fixture."""
    _, items = _items(payload, "football-fixtures")
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for path, item in items:
        fixture = validate(RawFixture, item, PROVIDER, "football-fixtures", path)
        info = fixture.fixture
        status_path = f"{path}.fixture.status.short"
        status = lookup(FOOTBALL_STATUSES, info.status.short, PROVIDER, "football-fixtures", status_path)
        score = Score(home=fixture.goals.home, away=fixture.goals.away)
        teams_known = fixture.teams.home.id is not None and fixture.teams.away.id is not None
        if (score.home is None or score.away is None) and fixture.events and teams_known:
            score = _goals_from_events(fixture, path)
        in_play = status in {Status.LIVE, Status.HALFTIME}
        provider_event_id = f"football:{info.id}"
        records.append(
            Event(
                id=provisional_event_id(PROVIDER, provider_event_id), sport=Sport.SOCCER,
                league=_league(fixture.league, fixture.league.country), home_team=fixture.teams.home.name,
                away_team=fixture.teams.away.name, score=score, status=status, start_time=info.date,
                period=info.status.short if in_play else None,
                clock=_football_clock(info.status) if status is Status.LIVE else None,
                provider=PROVIDER, provider_event_id=provider_event_id, timestamp=received_at or info.date,
            )
        )
    return records


@feed(PROVIDER, "basketball-games")
def normalize_basketball_games(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """api-basketball v1 /games: one event per game."""
    _, items = _items(payload, "basketball-games")
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for path, item in items:
        game = validate(RawGame, item, PROVIDER, "basketball-games", path)
        status = lookup(BASKETBALL_STATUSES, game.status.short, PROVIDER, "basketball-games", f"{path}.status.short")
        in_play = status in {Status.LIVE, Status.HALFTIME}
        provider_event_id = f"basketball:{game.id}"
        records.append(
            Event(
                id=provisional_event_id(PROVIDER, provider_event_id), sport=Sport.BASKETBALL,
                league=_league(game.league, game.country.name if game.country else None),
                home_team=game.teams.home.name, away_team=game.teams.away.name,
                score=Score(home=game.scores.home.total, away=game.scores.away.total), status=status,
                start_time=game.date, period=game.status.short if in_play else None,
                clock=str(game.status.timer) if status is Status.LIVE and game.status.timer is not None else None,
                provider=PROVIDER, provider_event_id=provider_event_id, timestamp=received_at or game.date,
            )
        )
    return records


def _f1_races(items: list[tuple[str, Any]], params: Mapping[str, str]) -> list[CanonicalRecord]:
    received_at = _received_at(params)
    records: list[CanonicalRecord] = []
    for path, item in items:
        race = validate(RawRace, item, PROVIDER, "formula1-races", path)
        if race.type not in F1_RACE_TYPES:
            continue  # practice and qualifying sessions have no race result
        status = lookup(FORMULA1_STATUSES, race.status, PROVIDER, "formula1-races", f"{path}.status")
        provider_event_id = f"formula-1:{race.id}"
        records.append(
            RaceResult(
                id=provisional_event_id(PROVIDER, provider_event_id), series=F1_SERIES, season=str(race.season),
                name=race.competition.name + F1_RACE_TYPES[race.type], start_time=race.date, status=status,
                provider=PROVIDER, provider_event_id=provider_event_id, timestamp=received_at or race.date,
            )
        )
    return records


def _f1_entry(ranking: RawRanking) -> RaceEntry:
    time = (ranking.time or "").strip() or None
    if time in F1_NOT_RUNNING:
        return RaceEntry(
            competitor=ranking.driver.name, team=ranking.team.name if ranking.team else None,
            laps=ranking.laps, status=time,
        )
    gap = ranking.gap
    if time is not None and time.startswith("+"):
        time, gap = None, gap or time
    return RaceEntry(
        position=ranking.position, competitor=ranking.driver.name,
        team=ranking.team.name if ranking.team else None, time=time, gap=gap, laps=ranking.laps,
    )


def _f1_rankings(items: list[tuple[str, Any]], params: Mapping[str, str]) -> list[CanonicalRecord]:
    name, start, season = params.get("_race_name"), params.get("_race_start"), params.get("_season")
    if not (name and start and season):
        reason = "rankings/races carries no race name, start or season: pass _race_name, _race_start, _season"
        raise NormalizationError(PROVIDER, "formula1-races", reason, "params")
    try:
        start_time = parse_iso(start)
    except ValueError as exc:
        reason = f"bad _race_start {start!r}"
        raise NormalizationError(PROVIDER, "formula1-races", reason, "params._race_start") from exc
    race_status = params.get("_race_status", "Completed")
    status = lookup(FORMULA1_STATUSES, race_status, PROVIDER, "formula1-races", "params._race_status")
    received_at = _received_at(params)
    by_race: dict[int, list[RaceEntry]] = {}
    for path, item in items:
        ranking = validate(RawRanking, item, PROVIDER, "formula1-races", path)
        by_race.setdefault(ranking.race.id, []).append(_f1_entry(ranking))
    return [
        RaceResult(
            id=provisional_event_id(PROVIDER, f"formula-1:{race_id}"), series=F1_SERIES, season=season, name=name,
            start_time=start_time, status=status, results=entries, provider=PROVIDER,
            provider_event_id=f"formula-1:{race_id}", timestamp=received_at or start_time,
        )
        for race_id, entries in by_race.items()
    ]


F1_ENDPOINTS: Mapping[str, Callable[[list[tuple[str, Any]], Mapping[str, str]], list[CanonicalRecord]]] = {
    "races": _f1_races,
    "rankings/races": _f1_rankings,
}


@feed(PROVIDER, "formula1-races")
def normalize_formula1_races(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """api-formula-1 /races (race sessions, no results) and /rankings/races (results of one race)."""
    endpoint, items = _items(payload, "formula1-races")
    if endpoint is None:  # bare items: a ranking names its driver, a race does not
        first = items[0][1] if items else None
        endpoint = "rankings/races" if isinstance(first, dict) and "driver" in first else "races"
    handler = F1_ENDPOINTS.get(endpoint)
    if handler is None:
        reason = f"unsupported endpoint {endpoint!r}; expected one of {sorted(F1_ENDPOINTS)}"
        raise NormalizationError(PROVIDER, "formula1-races", reason, "$.get")
    return handler(items, params)


@reference("apisports")
def teams(payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """`/teams?league=&season=`: football `{response: [{team: {id, name, code}, venue}]}`, basketball
    `{response: [{id, name, logo, country}]}`."""
    out = []
    for item in payload["response"]:
        t = item.get("team", item)
        out.append(team_reference("apisports", params, t["id"], t["name"], abbreviation=t.get("code")))
    return out
