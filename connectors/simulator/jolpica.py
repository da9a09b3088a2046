"""Jolpica-F1 as the simulator serves it: Ergast-style `results.json` of the world's finished races.

Real behaviour kept: every number is a string; `limit` (default 30, at most 100) and `offset`
page result rows, `total` counts them, and a race cut by a page boundary appears on both pages
with part of its results; an unrun round is absent from `Races`; `current` is the world's year
and `last` its latest finished round. No auth; over 500 requests an hour the answer is
Django REST framework's 429 with `Retry-After`, and the `quota` fault answers the same.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.world import DRIVERS, RACE_POINTS, Race

PROVIDER = "jolpica"
HOURLY_LIMIT = 500
DEFAULT_LIMIT, MAX_LIMIT = 30, 100


def _seconds(value: float) -> str:
    hours, rest = divmod(value, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:06.3f}"


def _gap(value: float) -> str:
    minutes, secs = divmod(value, 60)
    return f"+{int(minutes)}:{secs:06.3f}" if minutes else f"+{secs:.3f}"


def results(race: Race) -> list[dict[str, Any]]:
    rows = []
    for position, driver, gap in race.classification:
        finish = race.leader_time_s + gap
        rows.append({
            "number": str(driver.number), "position": str(position), "positionText": str(position),
            "points": str(RACE_POINTS[position - 1] if position <= len(RACE_POINTS) else 0),
            "Driver": {"driverId": driver.family_name.lower(), "permanentNumber": str(driver.number),
                       "code": driver.code, "givenName": driver.given_name, "familyName": driver.family_name},
            "Constructor": {"constructorId": driver.team.lower().replace(" ", "_"), "name": driver.team},
            "grid": str(position), "laps": str(race.lap), "status": "Finished",
            "Time": {"millis": str(int(finish * 1000)),
                     "time": _seconds(finish) if position == 1 else _gap(gap)},
        })
    return rows


def race_header(race: Race) -> dict[str, Any]:
    return {"season": str(race.season), "round": str(race.round), "raceName": race.name,
            "Circuit": {"circuitId": f"circuit_{race.round}", "circuitName": f"{race.name} Circuit"},
            "date": race.commence.strftime("%Y-%m-%d"), "time": race.commence.strftime("%H:%M:%SZ")}


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def body(request: web.Request, races: list[Race], season: str, round_: str | None) -> dict[str, Any]:
    limit = min(MAX_LIMIT, _int(request.query.get("limit"), DEFAULT_LIMIT))
    offset = _int(request.query.get("offset"), 0)
    rows = [(race, row) for race in races for row in results(race)]
    page: list[dict[str, Any]] = []
    for race, row in rows[offset: offset + limit]:
        if not page or page[-1]["round"] != str(race.round):
            page.append({**race_header(race), "Results": []})
        page[-1]["Results"].append(row)
    table: dict[str, Any] = {"season": season, "Races": page}
    if round_ is not None:
        table["round"] = round_
    return {"MRData": {"xmlns": "", "series": "f1", "url": f"https://api.jolpi.ca{request.path}",
                       "limit": str(limit), "offset": str(offset), "total": str(len(rows)), "RaceTable": table}}


class Throttle:
    """Django REST framework's hourly throttle, as Jolpica runs it."""

    def __init__(self) -> None:
        self.window_started = time.monotonic()
        self.used = 0

    def refuse(self) -> web.Response | None:
        if time.monotonic() - self.window_started >= 3600:
            self.window_started, self.used = time.monotonic(), 0
        self.used += 1
        if self.used <= HOURLY_LIMIT:
            return None
        wait = int(3600 - (time.monotonic() - self.window_started)) + 1
        return throttled(wait)


def _slug(name: str) -> str:
    return "_".join(name.lower().split())


def throttled(wait: int) -> web.Response:
    return web.json_response({"detail": f"Request was throttled. Expected available in {wait} seconds."},
                             status=429, headers={"Retry-After": str(wait)})


def register(app: web.Application, sim: Simulator) -> None:
    throttle = Throttle()

    async def race_results(request: web.Request) -> web.Response:
        refused = throttle.refuse()
        if refused is not None:
            return refused
        world = request.app[SIM_KEY].world
        season = request.match_info["season"]
        year = str(world.now.year) if season == "current" else season
        finished = sorted((r for r in world.races.values() if r.status == "final" and str(r.season) == year),
                          key=lambda r: r.round)
        round_ = request.match_info.get("round")
        if round_ == "last":
            finished = finished[-1:]
            round_ = str(finished[0].round) if finished else None
        elif round_ is not None:
            finished = [r for r in finished if str(r.round) == round_]
        return web.json_response(body(request, finished, year, round_))

    async def season_list(request: web.Request) -> web.Response:
        """`/{season}/constructors.json` (`ConstructorTable.Constructors`) and `/{season}/drivers.json`
        (`DriverTable.Drivers`): the world's grid."""
        refused = throttle.refuse()
        if refused is not None:
            return refused
        season = request.match_info["season"]
        year = str(request.app[SIM_KEY].world.now.year) if season == "current" else season
        if request.match_info["kind"] == "constructors":
            names = list(dict.fromkeys(d[4] for d in DRIVERS))
            rows: list[dict[str, Any]] = [{"constructorId": _slug(n), "url": "", "name": n, "nationality": ""}
                                          for n in names]
            table = {"ConstructorTable": {"season": year, "Constructors": rows}}
        else:
            rows = [{"driverId": _slug(family), "permanentNumber": str(number), "code": code, "url": "",
                     "givenName": given, "familyName": family} for given, family, code, number, _ in DRIVERS]
            table = {"DriverTable": {"season": year, "Drivers": rows}}
        total = str(len(rows))
        return web.json_response({"MRData": {"xmlns": "", "series": "f1", "url": str(request.url), "limit": "100",
                                             "offset": "0", "total": total, **table}})

    async def quota(request: web.Request) -> web.Response:
        return throttled(3600)

    app.router.add_get("/ergast/f1/{season}/{kind:constructors|drivers}.json",
                       with_faults(PROVIDER, season_list, quota=quota))

    app.router.add_get("/ergast/f1/{season}/results.json", with_faults(PROVIDER, race_results, quota=quota))
    app.router.add_get("/ergast/f1/{season}/{round}/results.json", with_faults(PROVIDER, race_results, quota=quota))
