"""Sportradar's Unified Odds Feed as the simulator sends it (used by `sportradar.py`; not a provider module).

- `odds_change` for every changed soccer match, `alive` per producer every `alive_s`, routed as the real feed
  routes them (`{prio}.{pre}.{live}.{type}.{sport}.{urn type}.{id}.{node}`) to the `unifiedfeed` exchange.
- Settlements, on the world's clock after a match's final whistle (`settlement_script`): the scouted
  `bet_settlement` (certainty 1) of the 1x2 and total markets at once, a `bet_cancel` of the total market's bets
  placed in the first 30 s after kick-off (incorrect odds) 3 s later, and the confirmed `bet_settlement`
  (certainty 2) 9 s later. Every other match (`rolls_back`) also gets, 6 s after the whistle, a
  `rollback_bet_settlement` of the 1x2 market and a `rollback_bet_cancel` of the void.
- Recovery (`POST /v1/{product}/recovery/initiate_request?after=&request_id=`): every message the producer
  sent from `after` on (minus `recovery_overlap_ms`: a recovery may send again what the client already has),
  or without `after` each match's current odds and every settlement message sent so far; then
  `snapshot_complete` with the request id. While `uof_paused`, nothing is published but history is kept.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import aio_pika
from aiohttp import web

from connectors.simulator.server import SIM_KEY, Simulator
from connectors.simulator.world import Match

PRODUCTS = {"liveodds": 1, "pre": 3}
SETTLEMENT_KINDS = frozenset({"bet_settlement", "bet_cancel", "rollback_bet_settlement", "rollback_bet_cancel"})
VOID_WINDOW_S = 30  # the cancelled bets: placed in the first 30 s after kick-off
INCORRECT_ODDS = 12  # UOF void reason


class UofState(Protocol):
    alive_s: float
    watch_s: float
    published: int
    # UOF as sent, for recovery: (timestamp ms, producer, routing key, body), oldest first.
    history: deque[tuple[int, int, str, bytes]]
    exchange: Any
    recoveries: list[tuple[int, int | None, int]]
    uof_paused: bool
    recovery_overlap_ms: int


def match_number(match: Match) -> int:
    return int(match.id[:7], 16)


def producer_of(match: Match) -> int:
    return 1 if match.started else 3


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


def routing_key(match: Match, kind: str = "odds_change") -> str:
    when = "-.live" if match.started else "pre.-"
    return f"hi.{when}.{kind}.1.sr:match.{match_number(match)}.-"


# --- settlements -----------------------------------------------------------------------------------


def rolls_back(match: Match) -> bool:
    """Every other match has its scouted 1x2 result and its void taken back (by its number: stable per world)."""
    return match_number(match) % 2 == 0


def settlement_script(match: Match) -> list[tuple[float, str]]:
    """(seconds after the final whistle, message) for one finished match."""
    script = [(0.0, "bet_settlement"), (3.0, "bet_cancel")]
    if rolls_back(match):
        script += [(6.0, "rollback_bet_settlement"), (6.0, "rollback_bet_cancel")]
    return [*script, (9.0, "bet_settlement_confirmed")]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def settlement_xml(match: Match, kind: str, at: datetime) -> tuple[str, bytes]:
    """One settlement message of `match` (finished) stamped `at`: (routing key message type, XML)."""
    book = next(iter(match.books.values()))
    head = f'product="1" event_id="sr:match:{match_number(match)}" timestamp="{_ms(at)}"'
    void_range = f'start_time="{_ms(match.commence)}" end_time="{_ms(match.commence) + VOID_WINDOW_S * 1000}"'
    total = f'specifiers="total={book.total}"'
    if kind in ("bet_settlement", "bet_settlement_confirmed"):
        h, a = match.home_score, match.away_score
        won = {"1": h > a, "2": h == a, "3": h < a}
        outcomes = "".join(f'<outcome id="{o}" result="{int(won[o])}"/>' for o in ("1", "2", "3"))
        over = h + a > book.total
        certainty = 2 if kind == "bet_settlement_confirmed" else 1
        body = (f'<bet_settlement certainty="{certainty}" {head}><outcomes><market id="1">{outcomes}</market>'
                f'<market id="18" {total}><outcome id="12" result="{int(over)}"/>'
                f'<outcome id="13" result="{int(not over)}"/></market></outcomes></bet_settlement>')
        return "bet_settlement", body.encode()
    if kind == "bet_cancel":
        body = f'<bet_cancel {head} {void_range}><market id="18" {total} void_reason="{INCORRECT_ODDS}"/></bet_cancel>'
    elif kind == "rollback_bet_settlement":
        body = f'<rollback_bet_settlement {head}><market id="1"/></rollback_bet_settlement>'
    elif kind == "rollback_bet_cancel":
        body = f'<rollback_bet_cancel {head} {void_range}><market id="18" {total}/></rollback_bet_cancel>'
    else:
        raise ValueError(f"no settlement message {kind!r}")
    return kind, body.encode()


class SettlementClock:
    """Which settlement messages are due: each finished match's script, on the world's clock."""

    def __init__(self) -> None:
        self.final_at: dict[str, datetime] = {}
        self.sent: set[tuple[str, int]] = set()

    def due(self, matches: list[Match], now: datetime) -> list[tuple[Match, str, datetime]]:
        out = []
        for match in matches:
            if match.sport != "soccer" or match.status != "final":
                continue
            final_at = self.final_at.setdefault(match.id, match.updated_at)
            for i, (offset, kind) in enumerate(settlement_script(match)):
                # +1 ms: the result follows the final odds_change of the same instant
                at = final_at + timedelta(seconds=offset, milliseconds=1)
                if (match.id, i) not in self.sent and at <= now + timedelta(milliseconds=1):
                    self.sent.add((match.id, i))
                    out.append((match, kind, at))
        return out


# --- the publisher and recovery ---------------------------------------------------------------------


async def _send(state: UofState, stamp: int, producer: int, key: str, body: bytes) -> None:
    state.history.append((stamp, producer, key, body))
    if not state.uof_paused:
        await state.exchange.publish(aio_pika.Message(body, content_type="text/xml"), routing_key=key)
        state.published += 1


async def publish_uof(sim: Simulator, state: UofState, url: str,
                      changed: Callable[[dict[str, int]], list[Match]]) -> None:
    """Publish odds_change for every changed soccer match, settlements when due and `alive` on cadence,
    until cancelled."""
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("unifiedfeed", aio_pika.ExchangeType.TOPIC, durable=True)
        state.exchange = exchange
        seen = {m.id: m.version for m in sim.world.matches.values()}
        settlements = SettlementClock()
        for match in sim.world.matches.values():  # finished before we started: their results are history
            if match.status == "final":
                settlements.final_at[match.id] = match.updated_at
                settlements.sent.update((match.id, i) for i in range(len(settlement_script(match))))
        last_alive = 0.0
        while True:
            for match in changed(seen):
                stamp = _ms(match.updated_at)
                await _send(state, stamp, producer_of(match), routing_key(match), odds_change_xml(match))
            for match, kind, at in settlements.due(list(sim.world.matches.values()), sim.world.now):
                message, body = settlement_xml(match, kind, at)
                await _send(state, _ms(at), producer_of(match), routing_key(match, message), body)
            if time.monotonic() - last_alive >= state.alive_s and not state.uof_paused:
                last_alive = time.monotonic()
                for producer in (1, 3):
                    alive = f'<alive product="{producer}" timestamp="{int(time.time() * 1000)}" subscribed="1"/>'
                    await exchange.publish(aio_pika.Message(alive.encode()), routing_key="-.-.-.alive.-.-.-.-")
            await asyncio.sleep(state.watch_s)


def _is_settlement(key: str) -> bool:
    parts = key.split(".")
    return len(parts) > 3 and parts[3] in SETTLEMENT_KINDS


async def _recover(state: UofState, sim: Simulator, producer: int, after: int | None, request_id: int) -> None:
    """Re-send what the producer sent from `after` on (or the current state), then snapshot_complete."""
    sent = list(state.history)
    if after is not None:
        since = after - state.recovery_overlap_ms
        messages = [(key, body) for stamp, p, key, body in sent if p == producer and stamp >= since]
    else:
        messages = [(routing_key(m), odds_change_xml(m)) for m in sim.world.matches.values()
                    if m.sport == "soccer" and producer_of(m) == producer]
        messages += [(key, body) for _, p, key, body in sent if p == producer and _is_settlement(key)]
    for key, body in messages:
        await state.exchange.publish(aio_pika.Message(body, content_type="text/xml"), routing_key=key)
    done = (f'<snapshot_complete request_id="{request_id}" timestamp="{int(time.time() * 1000)}" '
            f'product="{producer}"/>')
    await state.exchange.publish(aio_pika.Message(done.encode()), routing_key="-.-.-.snapshot_complete.-.-.-.1")


def recovery_route(state: UofState) -> Any:
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
