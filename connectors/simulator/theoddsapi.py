"""The Odds API v4 as the simulator serves it: real paths, `apiKey` auth, quota headers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.world import BookOdds, Match, listed, team_no

PROVIDER = "theoddsapi"
MONTHLY_CREDITS = 5_000_000


def american(decimal_price: float) -> int:
    if decimal_price >= 2.0:
        return round((decimal_price - 1) * 100)
    return round(-100 / (decimal_price - 1))


def _iso(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _price(value: float, fmt: str) -> float | int:
    return american(value) if fmt == "american" else value


def _markets(match: Match, book: BookOdds, wanted: list[str], fmt: str) -> list[dict[str, Any]]:
    markets: list[dict[str, Any]] = []
    updated = _iso(book.updated_at)
    if "h2h" in wanted:
        outcomes = [{"name": match.home, "price": _price(book.home, fmt)},
                    {"name": match.away, "price": _price(book.away, fmt)}]
        if book.draw is not None:
            outcomes.append({"name": "Draw", "price": _price(book.draw, fmt)})
        markets.append({"key": "h2h", "last_update": updated, "outcomes": outcomes})
    if "spreads" in wanted and match.sport != "soccer":
        markets.append({"key": "spreads", "last_update": updated, "outcomes": [
            {"name": match.home, "price": _price(book.spread_home, fmt), "point": book.spread},
            {"name": match.away, "price": _price(book.spread_away, fmt), "point": -book.spread},
        ]})
    if "totals" in wanted:
        markets.append({"key": "totals", "last_update": updated, "outcomes": [
            {"name": "Over", "price": _price(book.over, fmt), "point": book.total},
            {"name": "Under", "price": _price(book.under, fmt), "point": book.total},
        ]})
    return markets


def _authorized(request: web.Request, sim: Simulator) -> web.Response | None:
    if request.query.get("apiKey") != sim.key_for(PROVIDER):
        return web.json_response(
            {"message": "API key is not valid", "error_code": "INVALID_KEY",
             "details_url": "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html#invalid-key"},
            status=401,
        )
    return None


class Credits:
    def __init__(self) -> None:
        self.used = 0

    def charge(self, cost: int) -> dict[str, str]:
        self.used += cost
        return {"x-requests-remaining": str(MONTHLY_CREDITS - self.used), "x-requests-used": str(self.used),
                "x-requests-last": str(cost)}


def register(app: web.Application, sim: Simulator) -> None:
    credits = Credits()

    async def odds(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        refused = _authorized(request, world)
        if refused is not None:
            return refused
        wanted = request.query.get("markets", "h2h").split(",")
        regions = request.query.get("regions", "us").split(",")
        fmt = request.query.get("oddsFormat", "decimal")
        events = [
            {"id": m.id, "sport_key": m.sport_key, "sport_title": m.league, "commence_time": _iso(m.commence),
             "home_team": m.home, "away_team": m.away,
             "bookmakers": [{"key": key, "title": key.title(), "last_update": _iso(b.updated_at),
                             "markets": _markets(m, b, wanted, fmt)} for key, b in m.books.items()]}
            for m in world.world.by_sport(request.match_info["sport"]) if m.status != "final"
        ]
        cost = len(wanted) * len(regions) if events else 0
        return web.json_response(events, headers=credits.charge(cost))

    async def scores(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        refused = _authorized(request, world)
        if refused is not None:
            return refused
        events = [
            {"id": m.id, "sport_key": m.sport_key, "sport_title": m.league, "commence_time": _iso(m.commence),
             "completed": m.status == "final", "home_team": m.home, "away_team": m.away,
             "scores": None if not m.started else [{"name": m.home, "score": str(m.home_score)},
                                                   {"name": m.away, "score": str(m.away_score)}],
             "last_update": _iso(m.updated_at) if m.started else None}
            for m in world.world.by_sport(request.match_info["sport"])
        ]
        return web.json_response(events, headers=credits.charge(2 if "daysFrom" in request.query else 1))

    async def participants(request: web.Request) -> web.Response:
        """`[{full_name, id}]`: every team of the sport key (1 credit)."""
        world = request.app[SIM_KEY]
        refused = _authorized(request, world)
        if refused is not None:
            return refused
        body = [{"full_name": listed(PROVIDER, name)[0], "id": f"par_{team_no(PROVIDER, name):05d}"}
                for name in world.world.teams(request.match_info["sport"])]
        return web.json_response(body, headers=credits.charge(1))

    async def set_credits(request: web.Request) -> web.Response:
        """`POST /_sim/theoddsapi/credits {"remaining": n}`: the plan has n credits left (a quota test)."""
        credits.used = MONTHLY_CREDITS - int((await request.json())["remaining"])
        return web.json_response({"remaining": MONTHLY_CREDITS - credits.used})

    app.router.add_post("/_sim/theoddsapi/credits", set_credits)
    app.router.add_get("/v4/sports/{sport}/odds", with_faults(PROVIDER, odds))
    app.router.add_get("/v4/sports/{sport}/odds/", with_faults(PROVIDER, odds))
    app.router.add_get("/v4/sports/{sport}/scores", with_faults(PROVIDER, scores))
    app.router.add_get("/v4/sports/{sport}/scores/", with_faults(PROVIDER, scores))
    app.router.add_get("/v4/sports/{sport}/participants", with_faults(PROVIDER, participants))
