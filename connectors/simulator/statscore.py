"""STATSCORE as the simulator serves it: OAuth tokens, `GET /v2/events`, incidents pushed to RabbitMQ.

- `GET /v2/oauth?client_id=&secret_key=`: the secret must be the simulator's key for statscore; tokens
  live `token_ttl_s` (settable for tests) and every other route checks `?token=`.
- `GET /v2/events`: soccer and basketball matches of the world in the livescore envelope
  (competitions -> seasons -> stages -> groups -> events), REST-style string results; `status_type` filters.
- Incidents: with an AMQP URL (the Simulator's `amqp_url`, `app[INCIDENTS_URL]`, or
  `POST /_sim/statscore/amqp {"url", "queue"}`), every change of a match is pushed to the client's queue
  (default `statscore.sim`) as a `{id, type: "event", ut, data: {event}}` message with integer results.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import orjson
from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator, with_faults
from connectors.simulator.world import Match, World, code_of, listed, spelled, team_no

PROVIDER = "statscore"
SPORT_IDS = {"soccer": 5, "basketball": 1}
COMPETITION_IDS = {"EPL": 1, "NBA": 2}
DEFAULT_QUEUE = "statscore.sim"


@dataclass
class StatscoreSim:
    token_ttl_s: float = 86400.0
    watch_s: float = 0.2
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    issued: int = 0
    pushed: int = 0
    push_task: asyncio.Task[None] | None = None
    on_push: Callable[[dict[str, Any]], None] | None = None  # sees every message pushed (a test's ground truth)

    def valid(self, token: str | None) -> bool:
        expiry = self.tokens.get(token or "")
        return expiry is not None and expiry > time.time()


STATE: web.AppKey[StatscoreSim] = web.AppKey("statscore_sim")
INCIDENTS_URL: web.AppKey[str] = web.AppKey("statscore_incidents_url")


def event_id(match: Match) -> int:
    return int(match.id[:7], 16)


def _status(match: Match) -> tuple[int, str, str]:
    """(status_id, status_name, status_type) from STATSCORE's dictionaries."""
    if match.status == "scheduled":
        return 1, "Not started", "scheduled"
    if match.status == "final":
        return 11, "Finished", "finished"
    if match.sport == "soccer":
        return (33, "1st half", "live") if match.period <= 2 else (34, "2nd half", "live")
    # 1st-3rd quarter ids come from sports.show; the 4th quarter's id is not in our samples, so it is sent
    # with an id the normalizer does not know and falls back to status_type, as it would for a new status.
    return {1: (8, "1st quarter", "live"), 2: (10, "2nd quarter", "live"),
            3: (19, "3rd quarter", "live")}.get(match.period, (20, "4th quarter", "live"))


def statscore_event(match: Match, world: World, *, push: bool) -> dict[str, Any]:
    status_id, status_name, status_type = _status(match)

    def result(score: int) -> int | str | None:
        if not match.started:
            return None if push else ""
        return score if push else str(score)

    clock = match.ticks_live * (90 if match.sport == "soccer" else 48) * 60 // world.live_ticks
    return {
        "id": event_id(match), "name": f"{spelled(PROVIDER, match.home)} - {spelled(PROVIDER, match.away)}",
        "action": "update",
        "start_date": match.commence.strftime("%Y-%m-%d %H:%M"), "status_id": status_id, "status_name": status_name,
        "status_type": status_type, "sport_id": SPORT_IDS[match.sport], "competition_id":
        COMPETITION_IDS.get(match.league, 99), "clock_time": clock if match.status == "live" else None,
        "item_status": "active", "inverted_participants": "no", "ut": int(match.updated_at.timestamp()),
        "participants": [
            {"id": event_id(match) * 10 + counter, "counter": counter, "name": name, "type": "team",
             "results": [{"id": 2, "value": result(score)}]}
            for counter, name, score in ((1, spelled(PROVIDER, match.home), match.home_score),
                                         (2, spelled(PROVIDER, match.away), match.away_score))
        ],
    }


def _matches(world: World) -> list[Match]:
    return [m for m in world.matches.values() if m.sport in SPORT_IDS]


def _envelope(name: str, data: Any, world: World) -> dict[str, Any]:
    return {"api": {"ver": "2.125", "timestamp": int(world.now.timestamp()),
                    "method": {"parameters": {}, "name": name, "details": name, "total_items": "",
                               "previous_page": "", "next_page": ""}, "data": data}}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"api": {"ver": "2.125", "error": {"message": message, "status": status,
                                                                  "internal_code": status}}}, status=status)


def register(app: web.Application, sim: Simulator) -> None:
    state = StatscoreSim()
    app[STATE] = state

    async def oauth(request: web.Request) -> web.Response:
        simulator = request.app[SIM_KEY]
        if not request.query.get("client_id") or request.query.get("secret_key") != simulator.key_for(PROVIDER):
            return _error(401, "Invalid client_id or secret_key")
        token = secrets.token_hex(16)
        expires = time.time() + state.token_ttl_s
        state.tokens = {t: e for t, e in state.tokens.items() if e > time.time()}
        state.tokens[token] = expires
        state.issued += 1
        data = {"client_id": request.query["client_id"], "token": token, "token_expiration": int(expires)}
        return web.json_response(_envelope("oauth", data, simulator.world))

    async def events(request: web.Request) -> web.Response:
        simulator = request.app[SIM_KEY]
        if not state.valid(request.query.get("token")):
            return _error(401, "Invalid or expired token")
        wanted = request.query.get("status_type")
        by_league: dict[str, list[dict[str, Any]]] = {}
        for match in _matches(simulator.world):
            item = statscore_event(match, simulator.world, push=False)
            if not wanted or item["status_type"] == wanted:
                by_league.setdefault(match.league, []).append(item)
        competitions = [
            {"id": COMPETITION_IDS.get(league, 99), "name": league, "seasons": [
                {"id": 1, "name": "Simulated season", "stages": [{"id": 1, "name": "Regular season", "groups": [
                    {"id": 1, "name": "All", "events": items}]}]}]}
            for league, items in by_league.items()
        ]
        return web.json_response(_envelope("events.index", {"competitions": competitions}, simulator.world))

    async def participants(request: web.Request) -> web.Response:
        """`/v2/participants?sport_id=`: `{participants: [{id, name, short_name, acronym, type}]}` (5 = soccer)."""
        simulator = request.app[SIM_KEY]
        if not state.valid(request.query.get("token")):
            return _error(401, "Invalid or expired token")
        keys = {"5": "soccer_epl", "2": "basketball_nba", "13": "americanfootball_nfl"}
        rows = []
        for name in simulator.world.teams(keys.get(request.query.get("sport_id", "5"), "")):
            full, short = listed(PROVIDER, name)
            rows.append({"id": team_no(PROVIDER, name), "name": full, "short_name": short or full,
                         "acronym": code_of(name), "type": "team"})
        return web.json_response(_envelope("participants.index", {"participants": rows}, simulator.world))

    app.router.add_get("/v2/oauth", with_faults(PROVIDER, oauth))
    app.router.add_get("/v2/participants", with_faults(PROVIDER, participants))
    app.router.add_get("/v2/events", with_faults(PROVIDER, events))
    app.router.add_post("/_sim/statscore/amqp", _start)
    app.cleanup_ctx.append(_lifetime)


async def push_incidents(sim: Simulator, state: StatscoreSim, url: str, queue_name: str) -> None:
    """Push one message per changed match to the client's queue, until cancelled."""

    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue_name, durable=True)
        seen = {m.id: m.version for m in _matches(sim.world)}
        while True:
            for match in _matches(sim.world):
                if seen.get(match.id) == match.version:
                    continue
                seen[match.id] = match.version
                state.pushed += 1
                message = {"id": state.pushed, "type": "event", "source": 1, "ut": int(match.updated_at.timestamp()),
                           "data": {"event": statscore_event(match, sim.world, push=True)}}
                await channel.default_exchange.publish(
                    aio_pika.Message(orjson.dumps(message), content_type="application/json"), routing_key=queue_name)
                if state.on_push is not None:
                    state.on_push(message)
            await asyncio.sleep(state.watch_s)


def start_push(app: web.Application, url: str, queue: str = DEFAULT_QUEUE) -> None:
    state = app[STATE]
    if state.push_task is None or state.push_task.done():
        state.push_task = asyncio.get_running_loop().create_task(push_incidents(app[SIM_KEY], state, url, queue))


async def declare_queue(url: str, queue: str) -> None:
    """Create the client's queue, as STATSCORE does before handing out its credentials."""

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)


async def _start(request: web.Request) -> web.Response:
    body = await request.json()
    queue = str(body.get("queue", DEFAULT_QUEUE))
    await declare_queue(str(body["url"]), queue)
    start_push(request.app, str(body["url"]), queue)
    return web.json_response({"pushing": True, "queue": queue})


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    url = app.get(INCIDENTS_URL) or getattr(app[SIM_KEY], "amqp_url", None)
    if url:
        await declare_queue(str(url), DEFAULT_QUEUE)
        start_push(app, str(url))
    yield
    task = app[STATE].push_task
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down: its error is moot now
            await task
