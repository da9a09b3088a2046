"""The WebSocket feed (`sportsflow broadcast`), the original engine's protocol on path `/ws`:

    -> {"action": "subscribe", "subscriptions": ["live_scores", "betting_odds"],
        "filters": {"sport": [...], "league": [...], "eventIds": [...], "bookmakers": [...]}}
    <- {"type": "subscribed", "subscriptions": [...]}
    <- {"channel": "live_scores", "type": "event", "seq": 3, "id": ..., "homeTeam": ..., ...}

Auth: a JWT in the `token` query parameter, or in the first message (`{"action": "auth",
"token": ...}` or a `token` field of the subscribe message). Close codes: 4401 unauthenticated,
4403 channel not in the token's scope, 4400 bad message, 4008 slow consumer, 1001 shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from pipeline.settings import BroadcasterSettings
from pipeline.web.auth import AuthError, Principal, verify_token
from pipeline.web.hub import ClientQueue, Filters, Hub

log = logging.getLogger(__name__)

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SLOW = 4008
AUTH_TIMEOUT_S = 10.0


class ProtocolError(Exception):
    pass


def _filters(raw: Any) -> Filters:
    if raw is None:
        return Filters()
    if not isinstance(raw, dict):
        raise ProtocolError("filters must be an object")

    def values(*names: str) -> frozenset[str]:
        for name in names:
            if name in raw:
                value = raw[name]
                items = [value] if isinstance(value, str) else value
                if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                    raise ProtocolError(f"filter {name} must be a string or a list of strings")
                return frozenset(items)
        return frozenset()

    return Filters(values("sport", "sports"), values("league", "leagues"), values("eventIds", "eventId"),
                   values("bookmakers", "bookmaker"))


def parse_message(text: str | bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("action"), str):
        raise ProtocolError('message must be an object with an "action"')
    subs = message.get("subscriptions", [])
    if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
        raise ProtocolError("subscriptions must be a list of channel names")
    return message


class Broadcaster:
    def __init__(self, settings: BroadcasterSettings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.connections: set[ServerConnection] = set()

    def _health(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/health":
            body = orjson.dumps({"status": "ok", "clients": len(self.hub.clients)})
            return Response(HTTPStatus.OK, "OK", Headers([("Content-Type", "application/json")]), body)
        if path != "/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, "use /ws\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        principal: Principal | None = None
        if not self.settings.auth_required:
            principal = Principal("anonymous", frozenset(self.hub.by_channel))
        elif query.get("token"):
            try:
                principal = verify_token(query["token"][0], self.settings)
            except AuthError as exc:
                await ws.close(CLOSE_UNAUTHENTICATED, exc.reason[:100])
                return
        client = ClientQueue(limit=self.settings.queue_size)
        if principal is not None:
            client.allowed = principal.channels
        self.connections.add(ws)
        self.hub.attach(client)
        writer = asyncio.create_task(self._write(ws, client))
        try:
            await self._read(ws, client, principal)
        except ConnectionClosed:
            pass
        finally:
            self.hub.detach(client)
            self.connections.discard(ws)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _read(self, ws: ServerConnection, client: ClientQueue, principal: Principal | None) -> None:
        while True:
            timeout = AUTH_TIMEOUT_S if principal is None else None
            try:
                text = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                await ws.close(CLOSE_UNAUTHENTICATED, "no token within 10s")
                return
            try:
                message = parse_message(text)
                if principal is None:
                    principal = verify_token(message.get("token"), self.settings)
                    client.allowed = principal.channels
                self._apply(message, client)
            except ProtocolError as exc:
                await ws.close(CLOSE_BAD_MESSAGE, str(exc)[:100])
                return
            except AuthError as exc:
                await ws.close(CLOSE_UNAUTHENTICATED, exc.reason[:100])
                return
            except PermissionError as exc:
                await ws.close(CLOSE_FORBIDDEN, str(exc)[:100])
                return

    def _apply(self, message: dict[str, Any], client: ClientQueue) -> None:
        action = message["action"]
        channels = message.get("subscriptions", [])
        if action == "subscribe":
            unknown = [c for c in channels if c not in self.hub.by_channel]
            if unknown:
                raise ProtocolError(f"unknown channel(s): {', '.join(unknown)}")
            denied = [c for c in channels if c not in client.allowed]
            if denied:
                raise PermissionError(f"token does not grant: {', '.join(denied)}")
            # The acknowledgement is queued before the snapshot so it arrives first.
            client.send_now(orjson.dumps({"type": "subscribed", "subscriptions": channels}).decode())
            self.hub.subscribe(client, channels, _filters(message.get("filters")))
        elif action == "unsubscribe":
            self.hub.unsubscribe(client, channels)
            client.send_now(orjson.dumps({"type": "unsubscribed", "subscriptions": channels}).decode())
        elif action == "ping":
            client.send_now('{"type":"pong"}')
        elif action != "auth":
            raise ProtocolError(f"unknown action {action!r}")

    async def _write(self, ws: ServerConnection, client: ClientQueue) -> None:
        while True:
            await client.wake.wait()
            if client.slow:
                await self._drop_slow(ws)
                return
            for frame in client.drain():
                await ws.send(frame)

    async def _drop_slow(self, ws: ServerConnection) -> None:
        try:
            await asyncio.wait_for(ws.close(CLOSE_SLOW, "slow"), timeout=2.0)
        except TimeoutError:
            ws.transport.abort()

    async def serve(self, stop: asyncio.Event) -> None:
        async with serve(
            self.handle, self.settings.host, self.settings.port, process_request=self._health,
            compression="deflate" if self.settings.compression else None,
            max_size=self.settings.max_message_bytes, ping_interval=20, ping_timeout=20,
            write_limit=64 * 1024,
        ) as server:
            await stop.wait()
            await self.drain(server)

    async def drain(self, server: Server) -> None:
        """Graceful shutdown: stop accepting, tell every client to reconnect elsewhere."""
        server.close(close_connections=False)
        await asyncio.gather(*(ws.close(1001, "server shutting down") for ws in list(self.connections)),
                             return_exceptions=True)
        await server.wait_closed()
