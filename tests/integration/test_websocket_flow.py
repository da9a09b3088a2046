"""Kafka -> worker -> canonical topics -> broadcaster -> a real `websockets` client."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from connectors.publisher import KafkaPublisher
from pipeline.kafka_clients import client_options
from pipeline.web.auth import issue_token
from schemas.envelope import RawEnvelope
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
