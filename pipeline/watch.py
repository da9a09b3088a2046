"""`sportsflow watch`: a minimal WebSocket client of the feed, as a user would write one."""

from __future__ import annotations

import click
import orjson
from websockets.asyncio.client import connect

from runtime.settings import Settings
from sinks.websocket.auth import issue_token


async def watch_feed(settings: Settings, channels: list[str], count: int) -> None:
    token = issue_token(settings.broadcaster, "watch")
    url = f"ws://{settings.broadcaster.host}:{settings.broadcaster.port}/ws?token={token}"
    async with connect(url) as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "subscriptions": channels}).decode())
        seen = 0
        async for text in ws:
            frame = orjson.loads(text)
            if frame.get("type") == "event":
                score = frame["score"]
                click.echo(f"[{frame['channel']}] {frame['homeTeam']} {score['home']}-{score['away']} "
                           f"{frame['awayTeam']} ({frame['status']}) seq={frame['seq']}")
            elif frame.get("type") == "odds":
                prices = " ".join(f"{o['side']}={o['price']}" for o in frame["outcomes"])
                click.echo(f"[{frame['channel']}] {frame['bookmaker']} {frame['market']} {prices}")
            else:
                click.echo(text)
            seen += 1
            if count and seen >= count:
                return
