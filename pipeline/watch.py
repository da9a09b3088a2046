"""`sportsflow watch`: a minimal WebSocket client of the feed, as a user would write one."""

from __future__ import annotations

from typing import Any

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
            elif frame.get("type") == "settlement":
                click.echo(f"[{frame['channel']}] {settlement_line(frame)}")
            else:
                click.echo(text)
            seen += 1
            if count and seen >= count:
                return


def settlement_line(frame: dict[str, Any]) -> str:
    """`sportradar total total=2.5 result (confirmed): over lost, under won (half void) seq=2`."""
    head = f"{frame['bookmaker']} {frame['market']} {frame['specifiers']} {frame['kind']}".replace("  ", " ")
    if frame["rolledBack"]:
        return f"{head} ROLLED BACK, reopen (replaces seq {frame['replacesSeq']}) seq={frame['seq']}"
    if frame["kind"] == "void":
        window = f" bets placed {frame['voidFrom'] or '...'} to {frame['voidTo'] or '...'}"
        return f"{head} ({frame['voidReason']}){window} seq={frame['seq']}"
    outcomes = ", ".join(
        f"{o['side']} {o['result']}" + (f" ({o['voidFactor']:g} void)" if o["voidFactor"] else "")
        + (f" (dead heat {o['deadHeatFactor']:g})" if o["deadHeatFactor"] else "") for o in frame["outcomes"])
    return f"{head} ({frame['certainty']}): {outcomes} seq={frame['seq']}"

