"""API-Sports as the simulator serves it: api-football `/fixtures`, api-basketball `/games`,
api-formula-1 `/races` and `/rankings/races`, all mounted at the root (the paths do not collide).

Real behaviour kept: the `{get, parameters, errors, results, paging, response}` envelope; a
wrong `x-apisports-key` answers HTTP 200 with `errors.token` (only a missing header gets a 403);
the `quota` fault answers HTTP 200 with `errors.requests` and `x-ratelimit-requests-remaining: 0`;
daily and per-minute rate-limit headers on every answer. Unlike the real `/fixtures`, list
endpoints here page by `PAGE_SIZE` (`page=`), so a connector's paging is exercised.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.world import DRIVERS, Match, Race, code_of, listed, spelled, team_no

PROVIDER = "apisports"
PAGE_SIZE = 20
DAILY_LIMIT, MINUTE_LIMIT = 7500, 300  # the Pro plan
# An error text, not a secret.
MISSING_KEY_TEXT = ("Error/Missing application key. Go to https://www.api-football.com/documentation-v3 "
                    "to learn how to get your API application key.")
QUOTA_ERROR = "You have reached the request limit for the day, Go to https://dashboard.api-football.com to upgrade"
FOOTBALL_STATUS = {"NS": "Not Started", "1H": "First Half", "2H": "Second Half", "FT": "Match Finished"}
BASKETBALL_STATUS = {"NS": "Not Started", "Q1": "Quarter 1", "Q2": "Quarter 2", "Q3": "Quarter 3",
                     "Q4": "Quarter 4", "FT": "Game Finished"}
RACE_STATUS = {"scheduled": "Scheduled", "live": "Live", "final": "Completed"}


def entity_id(text_id: str) -> int:
    """A stable integer id from a world id, as API-Sports ids are integers."""
    return int(text_id[:6], 16)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def race_time(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:06.3f}"


def fixture(match: Match, sim: Simulator) -> dict[str, Any]:
    live, started = match.status == "live", match.started
    short = {"scheduled": "NS", "final": "FT"}.get(match.status, "1H" if match.period <= 2 else "2H")
    elapsed = 90 if match.status == "final" else (match.ticks_live * 90 // sim.world.live_ticks if live else None)
    goals = {"home": match.home_score if started else None, "away": match.away_score if started else None}
    return {
        "fixture": {"id": entity_id(match.id), "referee": None, "timezone": "UTC", "date": _iso(match.commence),
                    "timestamp": int(match.commence.timestamp()),
                    "periods": {"first": int(match.commence.timestamp()) if started else None, "second": None},
                    "venue": {"id": None, "name": None, "city": None},
                    "status": {"long": FOOTBALL_STATUS[short], "short": short, "elapsed": elapsed, "extra": None}},
        "league": {"id": 39, "name": "Premier League", "country": "England", "season": match.commence.year,
                   "round": "Regular Season - 1"},
        "teams": {"home": {"id": entity_id(match.id) % 1000, "name": spelled(PROVIDER, match.home), "winner": None},
                  "away": {"id": entity_id(match.id) % 1000 + 1, "name": spelled(PROVIDER, match.away),
                           "winner": None}},
        "goals": goals,
        "score": {"halftime": {"home": None, "away": None}, "fulltime": goals if match.status == "final" else
                  {"home": None, "away": None}, "extratime": {"home": None, "away": None},
                  "penalty": {"home": None, "away": None}},
    }


def basketball_game(match: Match, sim: Simulator) -> dict[str, Any]:
    short = {"scheduled": "NS", "final": "FT"}.get(match.status, f"Q{min(4, match.period)}")
    minute = (match.ticks_live * 48 // sim.world.live_ticks) % 12 if match.status == "live" else None

    def side(score: int) -> dict[str, Any]:
        return {"quarter_1": None, "quarter_2": None, "quarter_3": None, "quarter_4": None, "over_time": None,
                "total": score if match.started else None}

    return {
        "id": entity_id(match.id), "date": _iso(match.commence), "time": match.commence.strftime("%H:%M"),
        "timestamp": int(match.commence.timestamp()), "timezone": "UTC", "stage": None, "week": None,
        "status": {"long": BASKETBALL_STATUS[short], "short": short,
                   "timer": str(minute) if minute is not None else None},
        "league": {"id": 12, "name": "NBA", "type": "League", "season": "2024-2025"},
        "country": {"id": 5, "name": "USA", "code": "US"},
        "teams": {"home": {"id": entity_id(match.id) % 1000, "name": spelled(PROVIDER, match.home)},
                  "away": {"id": entity_id(match.id) % 1000 + 1, "name": spelled(PROVIDER, match.away)}},
        "scores": {"home": side(match.home_score), "away": side(match.away_score)},
    }


def race(item: Race) -> dict[str, Any]:
    return {
        "id": entity_id(item.id), "competition": {"id": item.round, "name": item.name,
                                                  "location": {"country": None, "city": None}},
        "circuit": {"id": item.round, "name": f"{item.name} Circuit"}, "season": item.season, "type": "Race",
        "laps": {"current": item.lap or None, "total": item.laps},
        "fastest_lap": {"driver": {"id": None}, "time": None},
        "distance": None, "timezone": "utc", "date": _iso(item.commence), "weather": None,
        "status": RACE_STATUS[item.status],
    }


def rankings(item: Race) -> list[dict[str, Any]]:
    if item.status == "scheduled":
        return []
    rows = []
    for position, driver, gap in item.classification:
        behind = f"+{gap:.3f}" if position > 1 else None
        rows.append({
            "race": {"id": entity_id(item.id)},
            "driver": {"id": driver.number, "name": driver.name, "abbr": driver.code, "number": driver.number},
            "team": {"id": len(driver.team), "name": driver.team}, "position": position,
            "time": race_time(item.leader_time_s) if position == 1 else behind, "laps": item.lap,
            "grid": str(position), "pits": 0, "gap": behind,
        })
    return rows


class Quotas:
    """The day's and the minute's request counters behind the rate-limit headers."""

    def __init__(self) -> None:
        self.used_today = 0
        self.minute_started = time.monotonic()
        self.used_this_minute = 0

    def charge(self, exhausted: bool = False) -> dict[str, str]:
        if time.monotonic() - self.minute_started >= 60:
            self.minute_started, self.used_this_minute = time.monotonic(), 0
        self.used_today += 1
        self.used_this_minute += 1
        remaining = 0 if exhausted else max(0, DAILY_LIMIT - self.used_today)
        return {"x-ratelimit-requests-limit": str(DAILY_LIMIT), "x-ratelimit-requests-remaining": str(remaining),
                "X-RateLimit-Limit": str(MINUTE_LIMIT),
                "X-RateLimit-Remaining": str(max(0, MINUTE_LIMIT - self.used_this_minute))}


def envelope(request: web.Request, get: str, items: list[Any], errors: dict[str, str] | None = None) -> dict[str, Any]:
    page = int(request.query.get("page", "1")) if request.query.get("page", "1").isdigit() else 1
    pages = max(1, -(-len(items) // PAGE_SIZE))
    chunk = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    parameters = dict(request.query.items())
    return {"get": get, "parameters": parameters, "errors": errors or [], "results": len(chunk),
            "paging": {"current": page, "total": pages}, "response": chunk}


def register(app: web.Application, sim: Simulator) -> None:
    quotas = Quotas()

    def answer(request: web.Request, get: str, items: list[Any]) -> web.Response:
        key = request.headers.get("x-apisports-key")
        if key is None:
            return web.json_response({"message": "You are not subscribed to this API."}, status=403)
        if key != request.app[SIM_KEY].key_for(PROVIDER):
            return web.json_response(envelope(request, get, [], {"token": MISSING_KEY_TEXT}), headers=quotas.charge())
        return web.json_response(envelope(request, get, items), headers=quotas.charge())

    async def fixtures(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        matches = world.world.by_sport("soccer_epl")
        if request.query.get("live") == "all":
            matches = [m for m in matches if m.status == "live"]
        elif "date" in request.query:
            matches = [m for m in matches if m.commence.date().isoformat() == request.query["date"]]
        return answer(request, "fixtures", [fixture(m, world) for m in matches])

    async def games(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        matches = world.world.by_sport("basketball_nba")
        if "date" in request.query:
            matches = [m for m in matches if m.commence.date().isoformat() == request.query["date"]]
        return answer(request, "games", [basketball_game(m, world) for m in matches])

    async def races(request: web.Request) -> web.Response:
        items = [race(r) for r in request.app[SIM_KEY].world.races.values()]
        for name in ("season", "id", "type"):
            if name in request.query:
                items = [i for i in items if str(i[name]) == request.query[name]]
        return answer(request, "races", items)

    async def race_rankings(request: web.Request) -> web.Response:
        wanted = request.query.get("race", "")
        found = [r for r in request.app[SIM_KEY].world.races.values() if str(entity_id(r.id)) == wanted]
        return answer(request, "rankings/races", rankings(found[0]) if found else [])

    async def teams(request: web.Request) -> web.Response:
        """`/teams?league=`: football `[{team: {id, name, code, ...}, venue}]`; basketball and Formula 1 list
        `[{id, name, logo}]` (api-basketball, api-formula-1)."""
        world = request.app[SIM_KEY].world
        league = request.query.get("league")
        if league is None and request.query.get("search") is None:  # Formula 1's constructors
            names = list(dict.fromkeys(d[4] for d in DRIVERS))
            return answer(request, "teams", [{"id": team_no(PROVIDER, n), "name": n, "logo": None} for n in names])
        if league == "12":
            return answer(request, "teams", [{"id": team_no(PROVIDER, n), "name": listed(PROVIDER, n)[0], "logo": None}
                                             for n in world.teams("basketball_nba")])
        names = world.teams("soccer_epl") if league == "39" else []
        return answer(request, "teams", [
            {"team": {"id": team_no(PROVIDER, n), "name": listed(PROVIDER, n)[0], "code": code_of(n),
                      "country": "England", "founded": None, "national": False, "logo": None},
             "venue": {"id": None, "name": None, "city": None}} for n in names])

    async def quota(request: web.Request) -> web.Response:
        get = request.path.lstrip("/")
        body = envelope(request, get, [], {"requests": QUOTA_ERROR})
        return web.json_response(body, headers=quotas.charge(exhausted=True))

    for path, handler in (("/fixtures", fixtures), ("/games", games), ("/races", races),
                          ("/rankings/races", race_rankings), ("/teams", teams)):
        app.router.add_get(path, with_faults(PROVIDER, handler, quota=quota))
