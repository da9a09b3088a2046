"""Kafka -> worker -> canonical topics -> broadcaster -> a real `websockets` client."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from connectors.amqp import Delivery
from connectors.publisher import KafkaPublisher
from connectors.sportradar import UofHandler
from runtime.kafka import client_options
from schemas.envelope import RawEnvelope
from sinks.websocket.auth import issue_token
from tests.conftest import TIME_UNIT, fixture_path

pytestmark = pytest.mark.integration


async def test_subscribed_client_receives_betting_odds(stack, worker, broadcaster_url, unique):
    """A client that sends the original engine's subscribe message receives the normalized odds."""
    url, settings = broadcaster_url
    token = issue_token(settings, "test-client")
    text = fixture_path("theoddsapi", "odds_soccer_epl_h2h_decimal_2024-08-19.json").read_text()
    text = text.replace("Leicester City", f"Leicester {unique}").replace("Tottenham Hotspur", f"Spurs {unique}")
    payload = [dict(json.loads(text)[0], id=unique)]
    async with connect(f"{url}?token={token}") as ws:
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": ["live_scores", "betting_odds"]}))
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack == {"type": "subscribed", "subscriptions": ["live_scores", "betting_odds"]}
        async with KafkaPublisher(client_options(stack)) as publisher:
            await publisher.publish([RawEnvelope(provider="theoddsapi", feed="odds", key=unique, payload=payload)])

        frames = []
        async with asyncio.timeout(30 * TIME_UNIT):
            while not any(f.get("type") == "odds" for f in frames):
                frame = orjson.loads(await ws.recv())
                if frame.get("providerEventId") == unique:
                    frames.append(frame)
    odds = next(f for f in frames if f["type"] == "odds")
    assert odds["channel"] == "betting_odds"
    assert odds["market"] == "moneyline"
    assert odds["homeTeam"] == f"Leicester {unique}"
    assert {o["side"] for o in odds["outcomes"]} == {"home", "away", "draw"}
    assert all(o["price"] > 1.0 for o in odds["outcomes"])
    assert isinstance(odds["seq"], int)


async def test_bad_tokens_are_refused(stack, broadcaster_url):
    """Missing, badly signed and alg=none tokens are refused with close code 4401."""
    import jwt

    url, _settings = broadcaster_url
    wrong_key = "a-wrong-secret-that-is-long-enough-for-hs256"
    forged = jwt.encode({"sub": "x", "exp": 9999999999}, wrong_key, algorithm="HS256")
    unsigned = jwt.encode({"sub": "x", "exp": 9999999999}, None, algorithm="none")
    for query in (f"?token={forged}", f"?token={unsigned}"):
        async with connect(url + query) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 4401
    async with connect(url) as ws:  # no token: the first message must carry one
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": ["live_scores"]}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4401


async def test_uof_bet_stop_reaches_a_client_as_suspended_odds(stack, worker, broadcaster_url, unique):
    """UOF odds_change then bet_stop, through the connector's handler, Kafka and the worker: the client
    sees the same market first active, then suspended."""
    url, settings = broadcaster_url
    token = issue_token(settings, "test-client")
    urn = f"sr:match:{int(unique[:7], 16)}"
    change = fixture_path("sportradar", "uof_odds_change_live.xml").read_text().replace("sr:match:10927088", urn)
    stop = f'<bet_stop groups="all" product="1" event_id="{urn}" timestamp="1487254399000"/>'
    key = f"hi.-.live.{{}}.1.sr:match.{urn.rsplit(':', 1)[1]}.-"
    handler = UofHandler()
    envelopes = [e for kind, body in (("odds_change", change), ("bet_stop", stop))
                 for e in handler.handle(Delivery(key.format(kind), body.encode(), datetime.now(UTC))).envelopes]
    async with connect(f"{url}?token={token}") as ws:
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": ["betting_odds"]}))
        await asyncio.wait_for(ws.recv(), 5)
        async with KafkaPublisher(client_options(stack)) as publisher:
            await publisher.publish(envelopes[:1])
            frames: list[dict] = []

            def mine(frame: dict) -> bool:
                return frame.get("providerEventId") == urn and frame.get("type") == "odds"

            async with asyncio.timeout(30 * TIME_UNIT):
                while not any(not f["suspended"] for f in frames):
                    frame = orjson.loads(await ws.recv())
                    if mine(frame):
                        frames.append(frame)
            active = {f["market"] for f in frames if not f["suspended"]}
            await publisher.publish(envelopes[1:])
            stopped: list[dict] = []
            async with asyncio.timeout(30 * TIME_UNIT):
                while not any(f["market"] in active for f in stopped):
                    frame = orjson.loads(await ws.recv())
                    if mine(frame) and frame["suspended"]:
                        stopped.append(frame)
    last = next(f for f in stopped if f["market"] in active)
    assert last["suspended"] is True
    assert last["outcomes"]  # the last prices, shown as suspended
    assert last["seq"] > max(f["seq"] for f in frames if f["market"] == last["market"])
