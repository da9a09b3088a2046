"""Sportradar's team lists as the simulator serves them (kept apart from the score feeds' module).

Soccer v4 `/seasons/{season}/competitors.json`: `{season_competitors: [{id, name, short_name,
abbreviation}]}`, ids the `sr:competitor:` URNs the schedules use. NBA v8 `/league/hierarchy.json`:
`{league, conferences: [{divisions: [{teams: [{id, name, market, alias}]}]}]}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connectors.simulator.server import SIM_KEY, with_faults
from connectors.simulator.world import code_of, listed

PROVIDER = "sportradar"


def register_teams(app: web.Application, team_no: Callable[[str], int],
                   refused: Callable[[web.Request], web.Response | None]) -> None:
    def guarded(handler: Callable[[web.Request], dict[str, Any]]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def route(request: web.Request) -> web.Response:
            return refused(request) or web.json_response(handler(request))

        return route

    def competitors(request: web.Request) -> dict[str, Any]:
        rows = []
        for name in request.app[SIM_KEY].world.teams("soccer_epl"):
            full, short = listed(PROVIDER, name)
            rows.append({"id": f"sr:competitor:{team_no(name)}", "name": full, "short_name": short or full,
                         "abbreviation": code_of(name)})
        return {"season": {"id": request.match_info["season"]}, "season_competitors": rows}

    def hierarchy(request: web.Request) -> dict[str, Any]:
        teams = []
        for name in request.app[SIM_KEY].world.teams("basketball_nba"):
            market, _, nick = listed(PROVIDER, name)[0].rpartition(" ")
            teams.append({"id": str(uuid.UUID(int=team_no(name))), "name": nick, "market": market,
                          "alias": "".join(w[0] for w in name.split())[:3].upper()})
        return {"league": {"id": "4353138d-4c22-4396-95d8-5f587d2df25c", "name": "NBA", "alias": "NBA"},
                "conferences": [{"id": "c1", "name": "NBA",
                                 "divisions": [{"id": "d1", "name": "All", "teams": teams}]}]}

    app.router.add_get("/soccer/{access}/v4/{lang}/seasons/{season}/competitors.json",
                       with_faults(PROVIDER, guarded(competitors)))
    app.router.add_get("/nba/{access}/v8/{lang}/league/hierarchy.json", with_faults(PROVIDER, guarded(hierarchy)))
