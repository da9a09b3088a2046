"""Sportradar as the simulator serves it: REST summaries/schedules, an HTTP push stream, and UOF over AMQP.

- REST: the real v4 soccer / v8 NBA paths, `x-api-key` checked, `Cache-Control: max-age`, `ETag` with
  `If-None-Match` -> 304, `X-Plan-Quota-*` headers. Soccer matches of the world get URNs
  `sr:sport_event:<n>`, NBA games a UUID; other sports are not Sportradar's here.
- Push: `GET /{soccer|nba}/{access}/stream/events/subscribe` streams one JSON line per changed match and a
  heartbeat line every `heartbeat_s`; `POST /_sim/sportradar/stream/drop` cuts every open stream.
- UOF: with an AMQP URL (the Simulator's `amqp_url`, `app[UOF_URL]` before start-up, or
  `POST /_sim/sportradar/uof {"url": ...}`), odds_change XML for changed soccer matches and `alive`
  every `alive_s` go to the `unifiedfeed` topic exchange, routed as the real feed routes them.
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

import aio_pika
import orjson
from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.world import Match, World, spelled

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
    _index: dict[str, Match] | None = None

    def index(self, world: World) -> dict[str, Match]:
        """URN / game id -> match. The world's match set is fixed at creation, so build it once."""
        if self._index is None:
            self._index = {key_of(m): m for m in world.matches.values() if key_of(m)}
        return self._index


STATE: web.AppKey[SportradarSim] = web.AppKey("sportradar_sim")
UOF_URL: web.AppKey[str] = web.AppKey("sportradar_uof_url")


def match_number(match: Match) -> int:
    return int(match.id[:7], 16)


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
    app.router.add_post("/_sim/sportradar/uof", _start_uof)
    app.router.add_post("/v1/{product}/recovery/initiate_request", _recovery_route(state))

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


# --- Unified Odds Feed publisher --------------------------------------------------------------------


def odds_change_xml(match: Match) -> bytes:
    book = next(iter(match.books.values()))
    status = {"scheduled": 0, "live": 1, "final": 4}[match.status]
    match_status = {"scheduled": 0, "final": 100}.get(match.status, 6 if match.period <= 2 else 7)
    stamp = int(match.updated_at.timestamp() * 1000)
    draw = f'<outcome id="2" odds="{book.draw}" active="1"/>' if book.draw is not None else ""
    market_status = 1 if match.status != "final" else -3
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<odds_change product="{1 if match.started else 3}" event_id="sr:match:{match_number(match)}" '
        f'timestamp="{stamp}"><sport_event_status status="{status}" match_status="{match_status}" '
        f'home_score="{match.home_score}" away_score="{match.away_score}"/><odds>'
        f'<market id="1" status="{market_status}"><outcome id="1" odds="{book.home}" active="1"/>{draw}'
        f'<outcome id="3" odds="{book.away}" active="1"/></market>'
        f'<market id="18" specifiers="total={book.total}" status="{market_status}">'
        f'<outcome id="12" odds="{book.over}" active="1"/><outcome id="13" odds="{book.under}" active="1"/>'
        f"</market></odds></odds_change>"
    ).encode()


def routing_key(match: Match) -> str:
    when = "-.live" if match.started else "pre.-"
    return f"hi.{when}.odds_change.1.sr:match.{match_number(match)}.-"


async def publish_uof(sim: Simulator, state: SportradarSim, url: str) -> None:
    """Publish odds_change for every changed soccer match and `alive` on cadence, until cancelled."""

    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("unifiedfeed", aio_pika.ExchangeType.TOPIC, durable=True)
        state.exchange = exchange
        seen = {m.id: m.version for m in sim.world.matches.values()}
        last_alive = 0.0
        while True:
            for match in _changed(sim.world, seen, "soccer"):
                body, key = odds_change_xml(match), routing_key(match)
                state.history.append((int(match.updated_at.timestamp() * 1000), producer_of(match), key, body))
                if not state.uof_paused:
                    await exchange.publish(aio_pika.Message(body, content_type="text/xml"), routing_key=key)
                    state.published += 1
            if time.monotonic() - last_alive >= state.alive_s and not state.uof_paused:
                last_alive = time.monotonic()
                for producer in (1, 3):
                    alive = f'<alive product="{producer}" timestamp="{int(time.time() * 1000)}" subscribed="1"/>'
                    await exchange.publish(aio_pika.Message(alive.encode()), routing_key="-.-.-.alive.-.-.-.-")
            await asyncio.sleep(state.watch_s)


def producer_of(match: Match) -> int:
    return 1 if match.started else 3


PRODUCTS = {"liveodds": 1, "pre": 3}


async def _recover(state: SportradarSim, sim: Simulator, producer: int, after: int | None, request_id: int) -> None:
    """Re-send what the producer sent after `after` (or every match's current odds), then snapshot_complete."""

    if after is not None:
        messages = [(key, body) for stamp, p, key, body in list(state.history) if p == producer and stamp >= after]
    else:
        messages = [(routing_key(m), odds_change_xml(m)) for m in sim.world.matches.values()
                    if m.sport == "soccer" and producer_of(m) == producer]
    for key, body in messages:
        await state.exchange.publish(aio_pika.Message(body, content_type="text/xml"), routing_key=key)
    done = (f'<snapshot_complete request_id="{request_id}" timestamp="{int(time.time() * 1000)}" '
            f'product="{producer}"/>')
    await state.exchange.publish(aio_pika.Message(done.encode()), routing_key="-.-.-.snapshot_complete.-.-.-.1")


def _recovery_route(state: SportradarSim) -> Any:
    async def initiate(request: web.Request) -> web.Response:
        """`POST /v1/{product}/recovery/initiate_request?after=&request_id=`: 202, then the messages."""
        producer = PRODUCTS.get(request.match_info["product"])
        if not request.headers.get("x-access-token"):
            return web.Response(status=401, text="missing x-access-token")
        if producer is None or state.exchange is None or "request_id" not in request.query:
            return web.Response(status=404 if producer is None else 503)
        after = int(request.query["after"]) if "after" in request.query else None
        request_id = int(request.query["request_id"])
        state.recoveries.append((producer, after, request_id))
        asyncio.get_running_loop().create_task(_recover(state, request.app[SIM_KEY], producer, after, request_id))
        return web.Response(status=202, text="<response response_code=\"ACCEPTED\"/>", content_type="text/xml")

    return initiate


def start_uof(app: web.Application, url: str) -> None:
    state = app[STATE]
    if state.uof_task is None or state.uof_task.done():
        state.uof_task = asyncio.get_running_loop().create_task(publish_uof(app[SIM_KEY], state, url))


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
