"""Sportradar Sports Data APIs (REST JSON): soccer summaries/schedules and NBA summaries/schedules.

Feeds (provider "sportradar"; the Unified Odds Feed lives in `sportradar_uof.py`):
- `soccer-summary`: v4 `sport_events/{urn}/summary.json`, also the legacy v3 `matches/{urn}/summary.json`
  and `timeline.json` (same `sport_event` + `sport_event_status` head; the timeline itself is ignored).
- `soccer-schedule`: v4 `schedules.json` (`{"schedules": [item, ...]}`) or one `schedules[]` item alone;
  each item has the summary's shape.
- `nba-summary`: game summary (v4 "nba-t3" 2017 through v7/v8); `nba-schedule`: daily schedule.

Format facts this module relies on:
- Soccer v4 names the start `start_time` and the competition `sport_event_context.competition`; v3 names
  them `scheduled` and `tournament`. Home/away come from `competitors[].qualifier`, never list order.
- Soccer clock: v4 `clock.played`, v3 `clock.match_time` (both "mm:ss"). `status` says where the match is
  in its life (closed = results confirmed); `match_status` refines it (`halftime`, `1st_half`, ...).
- NBA summaries split the team name into `market` + `name` ("Charlotte" + "Hornets"); schedules carry the
  full name. Schedules have `home_points`/`away_points`, absent for games not played (`unnecessary`).
- Event ids are the provider's own: soccer URNs (`sr:sport_event:`/`sr:match:`), NBA game UUIDs (the
  v7 `sr_id` URN is not used, so 2017 and v7 payloads name a game the same way).
- Period and clock are reported only while a game is in play; a finished game has neither.
- The event's `timestamp` is the document's own time (`generated_at`, v4 `match_situation.updated_at`),
  else the envelope's receive time, else the start time.

Times and statuses, and who says so: v4 `start_time`, v3 `scheduled`, NBA `scheduled` and `generated_at`
are ISO-8601 UTC with `Z` or `+00:00` (Soccer v4 and NBA v8 API docs and the v4 migration guide). Soccer
`sport_event_status.status` is one of not_started, match_about_to_start, started, live, postponed,
delayed / start_delayed, interrupted, suspended, ended, closed, cancelled, abandoned (Soccer v4 docs,
"sport event status"); `match_status` halftime overrides it. NBA `status` is one of scheduled, created,
inprogress, halftime, complete, closed, cancelled, delayed, postponed, time-tbd, if-necessary, unnecessary
(NBA v8 docs, "game status").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.canonical import CanonicalRecord, Event, Score, Sport, Status
from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.providers import feed, reference
from schemas.providers._common import provisional_event_id, team_reference, validate
from schemas.reference import TeamReference
from schemas.timeutil import parse_iso

PROVIDER = "sportradar"

Points = Annotated[int, Field(ge=0)]

SOCCER_STATUS: Mapping[str, Status] = {
    "not_started": Status.SCHEDULED,
    "match_about_to_start": Status.SCHEDULED,
    "started": Status.LIVE,  # documented in Soccer v4 (the match has begun), unseen in our samples
    "live": Status.LIVE,
    "start_delayed": Status.DELAYED,
    "delayed": Status.DELAYED,
    "postponed": Status.POSTPONED,
    "interrupted": Status.SUSPENDED,
    "suspended": Status.SUSPENDED,
    "ended": Status.FINAL,
    "closed": Status.FINAL,
    "cancelled": Status.CANCELLED,
    "abandoned": Status.ABANDONED,
}
# `match_status` values that say more than `status` does.
SOCCER_MATCH_STATUS_OVERRIDES: Mapping[str, Status] = {"halftime": Status.HALFTIME}

NBA_STATUS: Mapping[str, Status] = {
    "scheduled": Status.SCHEDULED,
    "created": Status.SCHEDULED,
    "time-tbd": Status.SCHEDULED,
    "if-necessary": Status.SCHEDULED,
    "inprogress": Status.LIVE,
    "halftime": Status.HALFTIME,
    "complete": Status.FINAL,  # over, stats not yet verified
    "closed": Status.FINAL,  # over, stats verified
    "cancelled": Status.CANCELLED,
    "unnecessary": Status.CANCELLED,  # an "if necessary" playoff game that will not be played
    "delayed": Status.DELAYED,
    "postponed": Status.POSTPONED,
    "suspended": Status.SUSPENDED,
}

IN_PLAY = frozenset({Status.LIVE, Status.HALFTIME, Status.SUSPENDED})
NBA_REGULATION_QUARTERS = 4


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RawNamed(_Raw):
    id: str | None = None
    name: str


class RawCompetitor(_Raw):
    id: str
    name: str
    qualifier: str | None = None


class RawContext(_Raw):
    competition: RawNamed


class RawSportEvent(_Raw):
    id: str
    start_time: datetime | None = None  # v4
    scheduled: datetime | None = None  # v3
    sport_event_context: RawContext | None = None  # v4
    tournament: RawNamed | None = None  # v3
    competitors: list[RawCompetitor]


class RawClock(_Raw):
    played: str | None = None  # v4
    match_time: str | None = None  # v3


class RawSituation(_Raw):
    updated_at: datetime | None = None


class RawSoccerStatus(_Raw):
    status: str
    match_status: str | None = None
    home_score: Points | None = None
    away_score: Points | None = None
    clock: RawClock | None = None
    match_situation: RawSituation | None = None


class RawSoccerSummary(_Raw):
    generated_at: datetime | None = None
    sport_event: RawSportEvent
    sport_event_status: RawSoccerStatus


class RawNbaTeam(_Raw):
    id: str
    name: str
    market: str | None = None
    alias: str | None = None
    points: Points | None = None


class RawNbaGame(_Raw):
    id: str
    status: str
    scheduled: datetime
    clock: str | None = None
    quarter: int | None = Field(None, ge=0)
    home_points: Points | None = None  # schedules
    away_points: Points | None = None
    home: RawNbaTeam
    away: RawNbaTeam


class RawLeague(_Raw):
    name: str | None = None
    alias: str | None = None


class RawNbaSchedule(_Raw):
    league: RawLeague | None = None
    games: list[RawNbaGame]


def _received_at(params: Mapping[str, str]) -> datetime | None:
    text = params.get(RECEIVED_AT_PARAM)
    return parse_iso(text) if text else None


def _lookup(table: Mapping[str, Status], code: str, feed_slug: str, path: str) -> Status:
    try:
        return table[code]
    except KeyError:
        raise NormalizationError(PROVIDER, feed_slug, f"unknown status {code!r}", path) from None


def soccer_status(status: str, match_status: str | None, feed_slug: str, path: str = "$") -> Status:
    """The canonical status of a soccer `sport_event_status`; unknown codes raise."""
    base = _lookup(SOCCER_STATUS, status, feed_slug, f"{path}.status")
    return SOCCER_MATCH_STATUS_OVERRIDES.get(match_status or "", base)


def nba_status(status: str, feed_slug: str, path: str = "$") -> Status:
    """The canonical status of an NBA game; unknown codes raise."""
    return _lookup(NBA_STATUS, status, feed_slug, f"{path}.status")


def _dict(payload: Any, feed_slug: str, path: str = "$") -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise NormalizationError(PROVIDER, feed_slug, f"expected a JSON object, got {type(payload).__name__}", path)
    return payload


def _soccer_event(item: Any, params: Mapping[str, str], feed_slug: str, path: str) -> Event:
    doc = validate(RawSoccerSummary, _dict(item, feed_slug, path), PROVIDER, feed_slug, path)
    ev, st = doc.sport_event, doc.sport_event_status
    start = ev.start_time or ev.scheduled
    if start is None:
        raise NormalizationError(PROVIDER, feed_slug, "no start_time (v4) or scheduled (v3)", f"{path}.sport_event")
    competition = ev.sport_event_context.competition if ev.sport_event_context else ev.tournament
    if competition is None:
        reason = "no sport_event_context.competition (v4) or tournament (v3)"
        raise NormalizationError(PROVIDER, feed_slug, reason, f"{path}.sport_event")
    sides = {c.qualifier: c for c in ev.competitors}
    if "home" not in sides or "away" not in sides:
        reason = "competitors must include one home and one away qualifier"
        raise NormalizationError(PROVIDER, feed_slug, reason, f"{path}.sport_event.competitors")
    status = soccer_status(st.status, st.match_status, feed_slug, f"{path}.sport_event_status")
    in_play = status in IN_PLAY
    clock = (st.clock.played or st.clock.match_time) if st.clock and in_play else None
    updated = doc.generated_at or (st.match_situation.updated_at if st.match_situation else None)
    return Event(
        id=provisional_event_id(PROVIDER, ev.id), sport=Sport.SOCCER, league=competition.name,
        home_team=sides["home"].name, away_team=sides["away"].name,
        score=Score(home=st.home_score, away=st.away_score), status=status, start_time=start,
        period=st.match_status if in_play else None, clock=clock, provider=PROVIDER, provider_event_id=ev.id,
        timestamp=updated or _received_at(params) or start, source_timestamp=updated,
    )


@feed(PROVIDER, "soccer-summary")
def normalize_soccer_summary(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """Soccer v4 (or legacy v3) sport event summary: one event with score, status and clock."""
    return [_soccer_event(payload, params, "soccer-summary", "$")]


@feed(PROVIDER, "soccer-schedule")
def normalize_soccer_schedule(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """Soccer v4 schedules (`{"schedules": [...]}` or one item): one event per scheduled match."""
    doc = _dict(payload, "soccer-schedule")
    if "sport_event" in doc:
        return [_soccer_event(doc, params, "soccer-schedule", "$")]
    items = doc.get("schedules")
    if not isinstance(items, list):
        raise NormalizationError(PROVIDER, "soccer-schedule", "expected a `schedules` array", "$.schedules")
    return [_soccer_event(item, params, "soccer-schedule", f"$.schedules[{i}]") for i, item in enumerate(items)]


def _team_name(team: RawNbaTeam) -> str:
    return f"{team.market} {team.name}" if team.market else team.name


def _nba_period(quarter: int | None) -> str | None:
    if not quarter:
        return None
    return f"Q{quarter}" if quarter <= NBA_REGULATION_QUARTERS else f"OT{quarter - NBA_REGULATION_QUARTERS}"


def _nba_event(game: RawNbaGame, league: str, params: Mapping[str, str], feed_slug: str, path: str) -> Event:
    status = nba_status(game.status, feed_slug, path)
    in_play = status in IN_PLAY
    home = game.home.points if game.home.points is not None else game.home_points
    away = game.away.points if game.away.points is not None else game.away_points
    return Event(
        id=provisional_event_id(PROVIDER, game.id), sport=Sport.BASKETBALL, league=league,
        home_team=_team_name(game.home), away_team=_team_name(game.away), score=Score(home=home, away=away),
        status=status, start_time=game.scheduled, period=_nba_period(game.quarter) if in_play else None,
        clock=game.clock if in_play else None, provider=PROVIDER, provider_event_id=game.id,
        timestamp=_received_at(params) or game.scheduled,
    )


@feed(PROVIDER, "nba-summary")
def normalize_nba_summary(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """NBA game summary: one event with points, status, quarter and clock."""
    game = validate(RawNbaGame, _dict(payload, "nba-summary"), PROVIDER, "nba-summary")
    return [_nba_event(game, "NBA", params, "nba-summary", "$")]


@feed(PROVIDER, "nba-schedule")
def normalize_nba_schedule(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """NBA daily schedule: one event per game, with points once played."""
    doc = validate(RawNbaSchedule, _dict(payload, "nba-schedule"), PROVIDER, "nba-schedule")
    league = (doc.league.alias or doc.league.name) if doc.league else None
    return [
        _nba_event(game, league or "NBA", params, "nba-schedule", f"$.games[{i}]") for i, game in enumerate(doc.games)
    ]


@reference("sportradar")
def competitors(payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """Soccer v4 `/seasons/{season}/competitors.json` (`{season_competitors: [{id, name, short_name,
    abbreviation}]}`); NBA v8 `/league/hierarchy.json` (`{conferences: [{divisions: [{teams: [{id, name,
    market, alias}]}]}]}`)."""
    out = [team_reference("sportradar", params, t["id"], t["name"], short_name=t.get("short_name"),
                          abbreviation=t.get("abbreviation"))
           for t in payload.get("season_competitors") or payload.get("competitors") or []]
    nba = [t for c in payload.get("conferences") or [] for d in c.get("divisions") or [] for t in d.get("teams") or []]
    for t in nba + (payload.get("teams") or []):
        full = " ".join(p for p in (t.get("market"), t["name"]) if p)
        out.append(team_reference("sportradar", params, t["id"], full, short_name=t["name"],
                                  abbreviation=t.get("alias")))
    return out
