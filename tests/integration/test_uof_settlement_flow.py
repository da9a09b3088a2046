"""UOF settlements from the outside: simulator -> RabbitMQ -> connector -> Kafka -> worker -> canonical.settlements,
read by a plain Kafka consumer and by a real WebSocket client subscribed to `settlements`.

Matches end; the simulator sends the scouted results, a void of some bets, for every other match a rollback
of the result and of the void, then the confirmed results. Then the connection and its queue are lost, and the
recovery on reconnect sends every one of those messages again. Each version must be seen exactly once, the
rollbacks as corrections, on the canonical id of the match's odds."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aio_pika
import orjson
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import connect

from connectors.health import HealthMonitor
from connectors.publisher import KafkaPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.sportradar import STATE, UOF_URL
from connectors.simulator.uof import match_number, rolls_back
from connectors.simulator.world import World, own_teams
from connectors.sportradar import uof_feeds
from pipeline.provision import ensure_topics
from runtime.kafka import client_options
from runtime.settings import ProviderSettings
from schemas import topics
from sinks.websocket.auth import issue_token
from tests.conftest import TIME_UNIT, published_by
from tests.connectors.amqp_support import eventually, rabbitmq_url, running, serve
from tests.integration.test_uof_recovery_flow import Tee

pytestmark = pytest.mark.integration
__all__ = ["rabbitmq_url"]  # the fixture, imported for pytest

SENTINEL_MARKET = 999  # sent after the recovery: once it is through, so is everything before it


@pytest.fixture
async def settlements_topic(stack):
    """The topic as `sportsflow stack up` provisions it (before the broadcaster assigns its partitions)."""
    await ensure_topics(stack, [topics.SETTLEMENTS])


def world_with_both_kinds(unique: str) -> World:
    """Soccer matches that end quickly, at least one rolled back and one not (the hard case and the plain one)."""
    for seed in range(int(unique[:6], 16), int(unique[:6], 16) + 100):
        world = World(seed=seed, matches=3, sport_keys=("soccer_epl",), live_ticks=4)
        if len({rolls_back(m) for m in world.matches.values()}) == 2:
            own_teams(world, unique)
            return world
    raise AssertionError("no seed gives both kinds of match")


def expected_versions(rolled_back: bool) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    """(market, kind) -> its versions as (rolledBack, certainty, correction), in order."""
    moneyline = [(False, "live", False)]
    if rolled_back:
        moneyline.append((True, "live", True))  # a rollback keeps what it takes back, marked rolled back
    return {
        ("moneyline", "result"): [*moneyline, (False, "confirmed", False)],
        ("total", "result"): [(False, "live", False), (False, "confirmed", False)],
        ("total", "void"): [(False, None, False), *([(True, None, True)] if rolled_back else [])],
    }


def versions(seen: list[dict[str, Any]], urn: str) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    """What a reader saw of one match: (market, kind) -> (rolledBack, certainty, correction) per version."""
    out: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for r in seen:
        if r["providerEventId"] == urn and r["market"] != f"sr_market_{SENTINEL_MARKET}":
            out.setdefault((r["market"], r["kind"]), []).append((r["rolledBack"], r["certainty"], r["correction"]))
    return out


def sentinel(urn: str) -> bytes:
    return (f'<bet_settlement certainty="2" product="1" event_id="{urn}" timestamp="{int(time.time() * 1000)}">'
            f'<outcomes><market id="{SENTINEL_MARKET}"><outcome id="1" result="1"/></market></outcomes>'
            "</bet_settlement>").encode()


@pytest.mark.timeout(300)
async def test_settlements_and_rollbacks_reach_kafka_and_websocket_exactly_once_across_a_recovery(
    stack, worker, settlements_topic, broadcaster_url, consumer_factory, rabbitmq_url, unique
):
    world = world_with_both_kinds(unique)
    urns = {f"sr:match:{match_number(m)}": m for m in world.matches.values()}
    sim = Simulator(world)
    queue = f"sportsflow.uof.test-{uuid.uuid4().hex[:8]}"
    port = int(rabbitmq_url.rsplit(":", 1)[1].strip("/"))
    settlements = await consumer_factory(topics.SETTLEMENTS)
    odds = await consumer_factory(topics.ODDS)
    url, ws_settings = broadcaster_url
    kafka_seen: list[dict[str, Any]] = []
    ws_seen: list[dict[str, Any]] = []
    odds_event_ids: dict[str, set[str]] = {}

    async def read_kafka() -> None:
        while True:
            batch = await settlements.getmany(timeout_ms=200)
            for messages in batch.values():
                kafka_seen.extend(orjson.loads(m.value) for m in messages if published_by(m, worker))
            for messages in (await odds.getmany(timeout_ms=50)).values():
                for m in messages:
                    record = orjson.loads(m.value)
                    if published_by(m, worker) and record["providerEventId"] in urns:
                        odds_event_ids.setdefault(record["providerEventId"], set()).add(record["eventId"])

    def arrived(records: list[dict[str, Any]], market: str | None = None) -> set[str]:
        return {r["providerEventId"] for r in records if r["providerEventId"] in urns
                and (market is None or r["market"] == market)}

    def configure(app):
        app[UOF_URL] = rabbitmq_url

    token = issue_token(ws_settings, "settlement-client")
    async with connect(f"{url}?token={token}") as ws, serve(sim, configure) as (base_url, app):
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": ["settlements"]}))
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscribed"

        async def read_ws() -> None:
            while True:
                frame = orjson.loads(await ws.recv())
                if frame.get("type") == "settlement":
                    ws_seen.append(frame)

        readers = [asyncio.create_task(read_kafka()), asyncio.create_task(read_ws())]
        state = app[STATE]
        state.alive_s = 0.3
        settings = ProviderSettings(client_secret=SecretStr("guest"), params={
            "uof_host": "127.0.0.1", "uof_port": str(port), "uof_tls": "false", "amqp_username": "guest",
            "uof_queue": queue, "uof_api_url": base_url})
        async with KafkaPublisher(client_options(stack)) as kafka:
            publisher = Tee(kafka)
            consumer, uof = uof_feeds(settings, publisher, HealthMonitor())
            try:
                async with running(consumer.run, uof.run):
                    await eventually(lambda: all(p.up for p in uof.producers.values()), timeout=30,
                                     message="both producers recovered")
                    while any(m.status != "final" for m in world.matches.values()):
                        world.tick(3.0)
                        await asyncio.sleep(0.3)
                    for _ in range(4):  # 12 s of the world's time: every settlement message is due
                        world.tick(3.0)
                        await asyncio.sleep(0.3)
                    sent = len(state.history)
                    # Everything sent so far went through before the connection is lost (else the recovery
                    # would send some of it for the first time, not again).
                    await eventually(lambda: {b.decode() for *_, b in list(state.history)[:sent]} <= {
                        e.payload for e in publisher.envelopes}, timeout=30, message="every message delivered")
                    await eventually(lambda: all(versions(kafka_seen, urn) == expected_versions(rolls_back(m))
                                                 for urn, m in urns.items()), timeout=60,
                                     message="every settlement version on canonical.settlements")

                # The connection and its queue are lost; the recovery on reconnect sends everything again.
                connection = await aio_pika.connect(rabbitmq_url)
                async with connection:
                    await (await connection.channel()).queue_delete(queue)
                state.recovery_overlap_ms = 3_600_000
                recoveries = len(state.recoveries)
                async with running(consumer.run, uof.run):
                    await eventually(lambda: len(state.recoveries) > recoveries and all(
                        p.up for p in uof.producers.values()), timeout=60, message="recovery after the reconnect")
                    for urn, match in urns.items():
                        await state.exchange.publish(
                            aio_pika.Message(sentinel(urn)),
                            routing_key=f"hi.-.live.bet_settlement.1.sr:match.{match_number(match)}.-")
                    await eventually(lambda: arrived(kafka_seen, f"sr_market_{SENTINEL_MARKET}") == set(urns)
                                     and arrived(ws_seen, f"sr_market_{SENTINEL_MARKET}") == set(urns),
                                     timeout=60 * TIME_UNIT, message="the sentinels after the recovery")
            finally:
                for task in readers:
                    task.cancel()
                connection = await aio_pika.connect(rabbitmq_url)
                async with connection:
                    await (await connection.channel()).queue_delete(queue)

    # The recovery did send every settlement message again (else this test would prove nothing).
    settlement_bodies = [body for _, _, key, body in list(state.history)[:sent]
                         if ".bet_settlement." in key or ".bet_cancel." in key or ".rollback_" in key]
    delivered = [e.payload for e in publisher.envelopes]
    assert settlement_bodies
    assert all(delivered.count(body.decode()) >= 2 for body in settlement_bodies)

    # Other sessions' workers on a shared stack read the same raw topics; one started in the middle of this
    # test begins its own lineage (another epoch) of these entities, and the feed delivers that too. The
    # client keeps this worker's lineage of each entity: the epoch of its records on the topic.
    ours = {(r["providerEventId"], r["market"], r["kind"]): r["epoch"] for r in kafka_seen}
    ws_ours = [f for f in ws_seen if ours.get((f["providerEventId"], f["market"], f["kind"])) == f["epoch"]]
    for name, seen in (("kafka", kafka_seen), ("websocket", ws_ours)):
        for urn, match in urns.items():
            mine = [r for r in seen if r["providerEventId"] == urn and r["market"] != f"sr_market_{SENTINEL_MARKET}"]
            by_entity: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for record in mine:
                by_entity.setdefault((record["market"], record["kind"]), []).append(record)
            expected = expected_versions(rolls_back(match))
            assert set(by_entity) == set(expected), (name, urn)
            for key, records in by_entity.items():
                got = [(r["rolledBack"], r["certainty"], r["correction"]) for r in records]
                assert got == expected[key], (name, urn, key)  # each version once, in order
                assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), (name, urn, key)
                for r in records:
                    if r["correction"]:
                        assert r["replacesSeq"] == r["seq"] - 1
            # Resolved like the match's odds: one canonical event id for both.
            assert {r["eventId"] for r in mine} == odds_event_ids.get(urn), (name, urn)
            moneyline = by_entity[("moneyline", "result")][0]
            winner = {o["side"] for o in moneyline["outcomes"] if o["result"] == "won"}
            h, a = match.home_score, match.away_score
            assert winner == {"home" if h > a else "away" if a > h else "draw"}, (name, urn)
