"""Sportradar as the simulator serves it: REST summaries/schedules, an HTTP push stream, and UOF over AMQP.

- REST: the real v4 soccer / v8 NBA paths, `x-api-key` checked, `Cache-Control: max-age`, `ETag` with
  `If-None-Match` -> 304, `X-Plan-Quota-*` headers. Soccer matches of the world get URNs
  `sr:sport_event:<n>`, NBA games a UUID; other sports are not Sportradar's here.
- Push: `GET /{soccer|nba}/{access}/stream/events/subscribe` streams one JSON line per changed match and a
  heartbeat line every `heartbeat_s`; `POST /_sim/sportradar/stream/drop` cuts every open stream.
- UOF: with an AMQP URL (the Simulator's `amqp_url`, `app[UOF_URL]` before start-up, or
  `POST /_sim/sportradar/uof {"url": ...}`), odds_change XML for changed soccer matches, settlements,
  voids and rollbacks of finished ones and `alive` every `alive_s` go to the `unifiedfeed` topic exchange,
  routed as the real feed routes them; the recovery endpoint sends them again (`uof.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import orjson
from aiohttp import web

from connectors.simulator._sportradar_teams import register_teams
from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.uof import match_number, odds_change_xml, publish_uof, recovery_route, routing_key
from connectors.simulator.world import Match, World, spelled

__all__ = ["STATE", "UOF_URL", "key_of", "match_number", "odds_change_xml", "register", "routing_key"]

PROVIDER = "sportradar"
QUOTA = 1_000_000_000  # a production key: the benchmark must not be paced by the quota
COMPETITIONS = {"EPL": ("sr:competition:17", "Premier League")}


@dataclass
class SportradarSim:
    heartbeat_s: float = 5.0
    alive_s: float = 10.0
    watch_s: float = 0.2
    used: int = 0
    drop: asyncio.Event = field(default_factory=asyncio.Event)
    published: int = 0
    uof_task: asyncio.Task[None] | None = None
    # UOF as sent, for recovery: (timestamp ms, producer, routing key, body), oldest first.
    history: deque[tuple[int, int, str, bytes]] = field(default_factory=lambda: deque(maxlen=20_000))
    exchange: Any = None  # the `unifiedfeed` exchange while the publisher is connected
    recoveries: list[tuple[int, int | None, int]] = field(default_factory=list)  # (producer, after, request_id)
    uof_paused: bool = False  # a producer outage: nothing is published (recovery still answers)
    recovery_overlap_ms: int = 0  # a recovery also sends again what came this long before `after`
    _index: dict[str, Match] | None = None

    def index(self, world: World) -> dict[str, Match]:
        """URN / game id -> match. The world's match set is fixed at creation, so build it once."""
        if self._index is None:
            self._index = {key_of(m): m for m in world.matches.values() if key_of(m)}
        return self._index


STATE: web.AppKey[SportradarSim] = web.AppKey("sportradar_sim")
UOF_URL: web.AppKey[str] = web.AppKey("sportradar_uof_url")


def key_of(match: Match) -> str:
    if match.sport == "soccer":
        return f"sr:sport_event:{match_number(match)}"
    if match.sport_key == "basketball_nba":
        return str(uuid.UUID(match.id))
    return ""


def _iso(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%S+00:00"))


def soccer_summary(match: Match, world: World) -> dict[str, Any]:
    comp_id, comp_name = COMPETITIONS.get(match.league, (f"sr:competition:{match.league}", match.league))
    status: dict[str, Any] = {"status": {"scheduled": "not_started", "live": "live", "final": "closed"}[match.status]}
    if match.status == "live":
        status["match_status"] = "1st_half" if match.period <= 2 else "2nd_half"
        played = match.ticks_live * 90 * 60 // world.live_ticks
        status["clock"] = {"played": f"{played // 60:02d}:{played % 60:02d}"}
    elif match.status == "final":
        status["match_status"] = "ended"
    if match.started:
        status |= {"home_score": match.home_score, "away_score": match.away_score}
    return {
        "generated_at": _iso(match.updated_at),
        "sport_event": {
            "id": key_of(match), "start_time": _iso(match.commence), "start_time_confirmed": True,
            "sport_event_context": {"sport": {"id": "sr:sport:1", "name": "Soccer"},
                                    "competition": {"id": comp_id, "name": comp_name}},
            "competitors": [{"id": f"sr:competitor:{_team_no(match.home)}", "name": spelled(PROVIDER, match.home),
                             "qualifier": "home"},
                            {"id": f"sr:competitor:{_team_no(match.away)}", "name": spelled(PROVIDER, match.away),
                             "qualifier": "away"}],
        },
        "sport_event_status": status,
    }


def _team_no(name: str) -> int:
    return int(hashlib.blake2b(name.encode(), digest_size=3).hexdigest(), 16)


def _nba_team(name: str, points: int | None) -> dict[str, Any]:
    market, _, nick = name.rpartition(" ")
    team: dict[str, Any] = {"id": str(uuid.UUID(int=_team_no(name))), "name": nick, "market": market,
                            "alias": "".join(w[0] for w in name.split())[:3].upper()}
    if points is not None:
        team["points"] = points
    return team


def nba_summary(match: Match, world: World) -> dict[str, Any]:
    status = {"scheduled": "scheduled", "live": "inprogress", "final": "closed"}[match.status]
    game: dict[str, Any] = {
        "id": key_of(match), "status": status,
        "scheduled": _iso(match.commence),
        "home": _nba_team(match.home, match.home_score if match.started else None),
        "away": _nba_team(match.away, match.away_score if match.started else None),
    }
    if match.status == "live":
        left = 12 * 60 - (match.ticks_live * 48 * 60 // world.live_ticks) % (12 * 60)
        game |= {"quarter": match.period, "clock": f"{left // 60:02d}:{left % 60:02d}"}
    return game


def _nba_schedule_item(match: Match, world: World) -> dict[str, Any]:
    game = nba_summary(match, world)
    for side in ("home", "away"):
        team = game[side]
        points = team.pop("points", None)
        team["name"] = f"{team.pop('market')} {team['name']}"
        if points is not None:
            game[f"{side}_points"] = points
    game.pop("clock", None)
    game.pop("quarter", None)
    return game


def _respond(request: web.Request, state: SportradarSim, body: Any, live: bool) -> web.Response:
    state.used += 1
    data = orjson.dumps(body)
    etag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
    headers = {"Cache-Control": f"public, max-age={1 if live else 10}", "ETag": etag,
               "X-Plan-Quota-Allotted": str(QUOTA), "X-Plan-Quota-Current": str(state.used),
               "X-Plan-Qps-Allotted": "100", "X-Plan-Qps-Current": "1"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type="application/json", headers=headers)


def _refused(request: web.Request, sim: Simulator) -> web.Response | None:
    if request.headers.get("x-api-key") != sim.key_for(PROVIDER):
        return web.json_response({"message": "Invalid authentication credentials"}, status=401)
    return None


def register(app: web.Application, sim: Simulator) -> None:
    state = SportradarSim()
    app[STATE] = state

    def lookup(request: web.Request, sport: str) -> Match:
        match = state.index(request.app[SIM_KEY].world).get(request.match_info["id"])
        if match is None or match.sport != sport:
            raise web.HTTPNotFound(text='{"message": "No data available"}', content_type="application/json")
        return match

    async def soccer_summary_route(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        if (refused := _refused(request, world)) is not None:
            return refused
        match = lookup(request, "soccer")
        return _respond(request, state, soccer_summary(match, world.world), match.status == "live")

    async def soccer_schedule(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        if (refused := _refused(request, world)) is not None:
            return refused
        day = request.match_info["day"]
        matches = [m for m in world.world.matches.values() if m.sport == "soccer"
                   and (m.status == "live" if day == "live" else m.commence.date().isoformat() == day)]
        body = {"generated_at": _iso(world.world.now), "summaries": [soccer_summary(m, world.world) for m in matches]}
        return _respond(request, state, body, any(m.status == "live" for m in matches))

    async def nba_summary_route(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        if (refused := _refused(request, world)) is not None:
            return refused
        match = lookup(request, "basketball")
        return _respond(request, state, nba_summary(match, world.world), match.status == "live")

    async def nba_schedule(request: web.Request) -> web.Response:
        world = request.app[SIM_KEY]
        if (refused := _refused(request, world)) is not None:
            return refused
        i = request.match_info
        day = f"{i['y']}-{i['m']}-{i['d']}"
        games = [m for m in world.world.by_sport("basketball_nba") if m.commence.date().isoformat() == day]
        body = {"date": day, "league": {"id": "4353138d-4c22-4396-95d8-5f587d2df25c", "name": "NBA", "alias": "NBA"},
                "games": [_nba_schedule_item(m, world.world) for m in games]}
        return _respond(request, state, body, any(m.status == "live" for m in games))

    soccer, nba = "/soccer/{access}/v4/{lang}", "/nba/{access}/v8/{lang}"
    app.router.add_get(soccer + "/sport_events/{id}/summary.json", with_faults(PROVIDER, soccer_summary_route))
    app.router.add_get(soccer + "/schedules/{day}/summaries.json", with_faults(PROVIDER, soccer_schedule))
    app.router.add_get(nba + "/games/{id}/summary.json", with_faults(PROVIDER, nba_summary_route))
    app.router.add_get(nba + "/games/{y}/{m}/{d}/schedule.json", with_faults(PROVIDER, nba_schedule))
    app.router.add_get("/{sport}/{access}/stream/events/subscribe", with_faults(PROVIDER, _stream(state)))
    app.router.add_post("/_sim/sportradar/stream/drop", _drop(state))
    register_teams(app, _team_no, lambda request: _refused(request, request.app[SIM_KEY]))
    app.router.add_post("/_sim/sportradar/uof", _start_uof)
    app.router.add_post("/v1/{product}/recovery/initiate_request", recovery_route(state))

    async def fixture(request: web.Request) -> web.Response:
        """UOF `GET /v1/sports/{lang}/sport_events/{urn}/fixture.xml` for the world's soccer matches."""
        world = request.app[SIM_KEY].world
        urn = request.match_info["urn"]
        match = next((m for m in world.matches.values() if m.sport == "soccer"
                      and f"sr:match:{match_number(m)}" == urn), None)
        if match is None:
            return web.Response(status=404, text="<response response_code=\"NOT_FOUND\"/>", content_type="text/xml")
        comp_id, comp_name = COMPETITIONS.get(match.league, (f"sr:competition:{match.league}", match.league))
        home, away = (xml_escape(spelled(PROVIDER, name), {'"': "&quot;"}) for name in (match.home, match.away))
        body = (f'<?xml version="1.0" encoding="UTF-8"?><fixtures_fixture><fixture id="{urn}" '
                f'start_time="{_iso(match.commence)}"><tournament id="{comp_id}" name="{comp_name}">'
                f'<sport id="sr:sport:1" name="Soccer"/></tournament><competitors>'
                f'<competitor qualifier="home" id="sr:competitor:{_team_no(match.home)}" name="{home}"/>'
                f'<competitor qualifier="away" id="sr:competitor:{_team_no(match.away)}" name="{away}"/>'
                f"</competitors></fixture></fixtures_fixture>")
        return web.Response(text=body, content_type="text/xml")

    app.router.add_get("/v1/sports/{lang}/sport_events/{urn}/fixture.xml", fixture)
    app.cleanup_ctx.append(_uof_lifetime)


def _changed(world: World, seen: dict[str, int], sport: str) -> list[Match]:
    changed = [m for m in world.matches.values() if m.sport == sport and seen.get(m.id, -1) != m.version]
    for m in changed:
        seen[m.id] = m.version
    return changed


def _stream(state: SportradarSim) -> Any:
    async def stream(request: web.Request) -> web.StreamResponse:
        sim = request.app[SIM_KEY]
        if (refused := _refused(request, sim)) is not None:
            return refused
        sport = {"soccer": "soccer", "nba": "basketball"}.get(request.match_info["sport"])
        if sport is None:
            raise web.HTTPNotFound
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        seen = {m.id: m.version for m in sim.world.matches.values()}  # a stream starts with what changes next
        drop, last_beat = state.drop, time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            while not drop.is_set():
                for match in _changed(sim.world, seen, sport):
                    body = soccer_summary(match, sim.world) if sport == "soccer" else {
                        "game": nba_summary(match, sim.world), "event": {"type": "update"}}
                    meta = {"sport_event_id": key_of(match), "event_type": "update"}
                    await response.write(orjson.dumps({"payload": body, "metadata": meta}) + b"\n")
                if time.monotonic() - last_beat >= state.heartbeat_s:
                    last_beat = time.monotonic()
                    await response.write(b'{"heartbeat":{"interval":%d}}\n' % int(state.heartbeat_s * 1000))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(drop.wait(), timeout=state.watch_s)
        return response

    return stream


def _drop(state: SportradarSim) -> Any:
    async def drop(request: web.Request) -> web.Response:
        old, state.drop = state.drop, asyncio.Event()
        old.set()
        return web.json_response({"dropped": True})

    return drop


def start_uof(app: web.Application, url: str) -> None:
    state = app[STATE]
    if state.uof_task is None or state.uof_task.done():
        sim = app[SIM_KEY]
        task = publish_uof(sim, state, url, lambda seen: _changed(sim.world, seen, "soccer"))
        state.uof_task = asyncio.get_running_loop().create_task(task)


async def _start_uof(request: web.Request) -> web.Response:
    body = await request.json()
    start_uof(request.app, str(body["url"]))
    return web.json_response({"publishing": True})


async def _uof_lifetime(app: web.Application) -> AsyncIterator[None]:
    url = app.get(UOF_URL) or getattr(app[SIM_KEY], "amqp_url", None)
    if url:
        start_uof(app, str(url))
    yield
    task = app[STATE].uof_task
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down: its error is moot now
            await task
