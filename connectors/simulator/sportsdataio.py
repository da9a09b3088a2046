"""SportsDataIO as the simulator serves it: v3 scores and odds by date, v4 soccer scores.

Times are US-Eastern wall times without an offset (`DateTime`, `Day`, `Updated`), as in the
real v3 payloads; v4 soccer gives `DateTime` and `Day` in UTC (its `Updated` stays Eastern) and adds
`UpdatedUtc`. A date lists the games whose Eastern start date
it is; paths take `2017-JUL-31` or ISO dates. Auth is Azure API Management's: the
`Ocp-Apim-Subscription-Key` header (or `key=`); a wrong key gets its 401 body, the `quota`
fault its 403 "Out of call volume quota". Every answer carries `Cache-Control: max-age=5`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.theoddsapi import american
from connectors.simulator.world import BookOdds, Match, listed, team_no
from schemas.timeutil import US_EASTERN

PROVIDER = "sportsdataio"
# SportsDataIO sport -> the world's sport key; MLB and NHL exist but have no scripted games.
SPORT_KEYS = {"nfl": "americanfootball_nfl", "nba": "basketball_nba", "mlb": "baseball_mlb", "nhl": "icehockey_nhl"}
COMPETITIONS = {"EPL": "soccer_epl"}
TEAM_KEYS = {
    "Boston Celtics": "BOS", "Los Angeles Lakers": "LAL", "Golden State Warriors": "GS", "Miami Heat": "MIA",
    "Denver Nuggets": "DEN", "Milwaukee Bucks": "MIL", "Phoenix Suns": "PHO", "Dallas Mavericks": "DAL",
    "Philadelphia 76ers": "PHI", "Brooklyn Nets": "BKN",
    "Kansas City Chiefs": "KC", "Buffalo Bills": "BUF", "Philadelphia Eagles": "PHI", "San Francisco 49ers": "SF",
    "Dallas Cowboys": "DAL", "Green Bay Packers": "GB", "Baltimore Ravens": "BAL", "Detroit Lions": "DET",
    "Miami Dolphins": "MIA", "Cincinnati Bengals": "CIN",
    "Arsenal": "ARS", "Manchester City": "MCI", "Liverpool": "LIV", "Chelsea": "CHE", "Tottenham Hotspur": "TOT",
    "Newcastle United": "NEW", "Aston Villa": "AVL", "Brighton and Hove Albion": "BHA", "West Ham United": "WHU",
    "Leicester City": "LEI",
}
SPORTSBOOKS = {"fanduel": ("FanDuel", 7), "draftkings": ("DraftKings", 8), "betmgm": ("BetMGM", 19)}
STATUS = {"scheduled": "Scheduled", "live": "InProgress", "final": "Final"}
INVALID_KEY = ("Access denied due to invalid subscription key. "
               "Make sure to provide a valid key for an active subscription.")
CACHE = {"Cache-Control": "public, must-revalidate, max-age=5"}


def team_key(name: str) -> str:
    """The team's key; a team renamed by a test (a unique suffix) keeps its key plus the suffix's initial."""
    known = TEAM_KEYS.get(name)
    if known is not None:
        return known
    base, _, suffix = name.rpartition(" ")
    return TEAM_KEYS.get(base, "".join(w[0] for w in name.split()).upper()[:3]) + suffix[:6].upper()


def reference_team(name: str, sport: str) -> dict[str, Any]:
    full, short = listed(PROVIDER, name)
    if sport == "soccer":
        return {"TeamId": team_no(PROVIDER, name), "Key": team_key(name), "Name": short or full, "FullName": full,
                "ShortName": short}
    city, _, nickname = full.rpartition(" ")
    team = {"TeamID": team_no(PROVIDER, name), "Key": team_key(name), "City": city, "Name": nickname}
    return {**team, "FullName": full} if sport == "nfl" else team


def game_id(match: Match) -> int:
    """A stable integer id, as SportsDataIO's are."""
    return int(match.id[:6], 16)


def eastern(value: datetime) -> str:
    return value.astimezone(US_EASTERN).strftime("%Y-%m-%dT%H:%M:%S")


def _day(value: datetime) -> str:
    return value.astimezone(US_EASTERN).strftime("%Y-%m-%dT00:00:00")


def parse_day(text: str) -> date | None:
    for fmt in ("%Y-%b-%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.title(), fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def _on_day(matches: list[Match], day: date) -> list[Match]:
    return [m for m in matches if m.commence.astimezone(US_EASTERN).date() == day]


def _base(match: Match) -> dict[str, Any]:
    return {"Season": match.commence.year, "SeasonType": 1, "Status": STATUS[match.status],
            "Day": _day(match.commence), "DateTime": eastern(match.commence), "Updated": eastern(match.updated_at),
            "IsClosed": match.status == "final"}


def _clock(match: Match, sim: Simulator) -> tuple[int, int]:
    """Minutes and seconds left in the period."""
    left = max(0, 12 * 60 - (match.ticks_live * 4 * 12 * 60 // sim.world.live_ticks) % (12 * 60))
    return left // 60, left % 60


def v3_game(match: Match, sport: str, sim: Simulator) -> dict[str, Any]:
    started, live = match.started, match.status == "live"
    minutes, seconds = _clock(match, sim)
    home, away = (match.home_score, match.away_score) if started else (None, None)
    game = {**_base(match), "HomeTeam": team_key(match.home), "AwayTeam": team_key(match.away)}
    if sport == "nfl":  # the NFL `Score` object
        game.update({"ScoreID": game_id(match), "GameKey": f"{match.commence.year}1{game_id(match) % 100:02d}",
                     "Date": eastern(match.commence), "HomeScore": home, "AwayScore": away,
                     "Quarter": str(match.period) if live else ("F" if match.status == "final" else None),
                     "TimeRemaining": f"{minutes}:{seconds:02d}" if live else None, "HasStarted": started,
                     "IsInProgress": live, "IsOver": match.status == "final"})
    else:
        game.update({"GameID": game_id(match), "HomeTeamScore": home, "AwayTeamScore": away,
                     "Quarter": str(match.period) if started else None,
                     "TimeRemainingMinutes": minutes if live else None,
                     "TimeRemainingSeconds": seconds if live else None})
    return game


def _line(match: Match, key: str, book: BookOdds, odd_type: str) -> dict[str, Any]:
    name, book_id = SPORTSBOOKS[key]
    return {
        "GameOddId": game_id(match) * 100 + book_id, "Sportsbook": name, "SportsbookId": book_id,
        "GameId": game_id(match), "Created": eastern(match.commence), "Updated": eastern(book.updated_at),
        "HomeMoneyLine": american(book.home), "AwayMoneyLine": american(book.away),
        "DrawMoneyLine": american(book.draw) if book.draw is not None else None,
        "HomePointSpread": book.spread, "AwayPointSpread": -book.spread,
        "HomePointSpreadPayout": american(book.spread_home), "AwayPointSpreadPayout": american(book.spread_away),
        "OverUnder": book.total, "OverPayout": american(book.over), "UnderPayout": american(book.under),
        "OddType": odd_type, "Unlisted": None,
    }


def game_odds(match: Match, live: bool) -> dict[str, Any]:
    started = match.started
    lines = [_line(match, key, book, "live" if live else "pregame") for key, book in match.books.items()]
    return {
        **_base(match), "GameId": game_id(match), "ScoreId": game_id(match),
        "HomeTeamName": team_key(match.home), "AwayTeamName": team_key(match.away),
        "HomeTeamScore": match.home_score if started else None, "AwayTeamScore": match.away_score if started else None,
        "PregameOdds": [] if live else lines, "LiveOdds": lines if live else [],
    }


def soccer_game(match: Match, sim: Simulator) -> dict[str, Any]:
    started, live = match.started, match.status == "live"
    return {
        **_base(match), "GameId": game_id(match), "RoundId": 1, "HomeTeamId": game_id(match) % 1000,
        "AwayTeamId": game_id(match) % 1000 + 1, "HomeTeamKey": team_key(match.home), "HomeTeamName": match.home,
        "AwayTeamKey": team_key(match.away), "AwayTeamName": match.away,
        "HomeTeamScore": match.home_score if started else None, "AwayTeamScore": match.away_score if started else None,
        # Soccer v4 gives DateTime and Day in UTC (v3 in US Eastern); Period says how a game ended.
        "DateTime": match.commence.strftime("%Y-%m-%dT%H:%M:%S"), "Day": match.commence.strftime("%Y-%m-%dT00:00:00"),
        "Period": "Regular" if match.status == "final" else None,
        "Clock": match.ticks_live * 90 // sim.world.live_ticks if live else None,
        "UpdatedUtc": match.updated_at.strftime("%Y-%m-%dT%H:%M:%S"), "GlobalGameId": 90_000_000 + game_id(match),
    }


def _refused(request: web.Request, sim: Simulator) -> web.Response | None:
    key = request.headers.get("Ocp-Apim-Subscription-Key") or request.query.get("key")
    if key != sim.key_for(PROVIDER):
        return web.json_response({"statusCode": 401, "message": INVALID_KEY}, status=401)
    return None


def _day_or_400(text: str) -> date | web.Response:
    day = parse_day(text)
    if day is None:
        return web.json_response({"statusCode": 400, "message": f"Invalid date: {text}"}, status=400)
    return day


def register(app: web.Application, sim: Simulator) -> None:
    async def scores(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        sport = request.match_info["sport"]
        day = _day_or_400(request.match_info["date"])
        refused = _refused(request, world)
        if refused is not None or isinstance(day, web.Response) or sport not in SPORT_KEYS:
            return refused or (day if isinstance(day, web.Response) else web.json_response([], status=404))
        games = [v3_game(m, sport, world) for m in _on_day(world.world.by_sport(SPORT_KEYS[sport]), day)]
        return web.json_response(games, headers=CACHE)

    async def odds(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        sport = request.match_info["sport"]
        day = _day_or_400(request.match_info["date"])
        refused = _refused(request, world)
        if refused is not None or isinstance(day, web.Response) or sport not in SPORT_KEYS:
            return refused or (day if isinstance(day, web.Response) else web.json_response([], status=404))
        live = request.match_info["endpoint"] == "LiveGameOddsByDate"
        matches = _on_day(world.world.by_sport(SPORT_KEYS[sport]), day)
        body = [game_odds(m, live) for m in matches if not live or m.status == "live"]
        return web.json_response(body, headers=CACHE)

    async def soccer(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        refused = _refused(request, world)
        if refused is not None:
            return refused
        matches = world.world.by_sport(COMPETITIONS.get(request.match_info["competition"].upper(), ""))
        if request.match_info["endpoint"] == "ScoresBasic":
            day = _day_or_400(request.match_info["when"])
            if isinstance(day, web.Response):
                return day
            matches = _on_day(matches, day)
        else:  # SchedulesBasic/{competition}/{season}
            matches = [m for m in matches if str(m.commence.year) == request.match_info["when"]]
        return web.json_response([soccer_game(m, world) for m in matches], headers=CACHE)

    async def quota(request: web.Request) -> web.Response:
        message = "Out of call volume quota. Quota will be replenished in 00:00:54."
        return web.json_response({"statusCode": 403, "message": message}, status=403)

    async def teams(request: web.Request) -> web.Response:
        """Teams (Active): v3 `[{TeamID, Key, City, Name}]` (NFL adds `FullName`), v4 soccer adds `ShortName`."""
        sim = request.app[SIM_KEY]
        refused = _refused(request, sim)
        if refused is not None:
            return refused
        sport = request.match_info.get("sport", "soccer")
        key = SPORT_KEYS.get(sport) or COMPETITIONS.get(request.match_info.get("competition", "").upper(), "")
        body = [reference_team(name, sport) for name in sim.world.teams(key)] if key else []
        return web.json_response(body, headers=CACHE)

    def route(path: str, handler: Any) -> None:
        app.router.add_get(path, with_faults(PROVIDER, handler, quota=quota))

    route("/v3/{sport}/scores/json/{endpoint:ScoresByDate|GamesByDate|ScoresBasic}/{date}", scores)
    route("/v3/{sport}/odds/json/{endpoint:GameOddsByDate|LiveGameOddsByDate}/{date}", odds)
    route("/v4/soccer/scores/json/{endpoint:ScoresBasic|SchedulesBasic}/{competition}/{when}", soccer)
    route("/v3/{sport}/scores/json/{endpoint:teams|AllTeams}", teams)
    route("/v4/soccer/scores/json/Teams/{competition}", teams)
