"""The WebSocket feed (`sportsflow broadcast`): the original engine's protocol on path `/ws`.

The wire protocol is in `protocol.py`; fan-out, snapshots and resumes are in `hub.py` (no I/O).
This module is the thin asyncio layer around them: one `Session` per connection.

Auth: a JWT in the `token` query parameter, or in the first message (`{"action": "auth",
"token": ...}` or a `token` field of any message). Close codes: 4401 unauthenticated (missing,
malformed, expired, badly signed, unaccepted algorithm; also when the token expires on a live
connection), 4403 channel not in the token's scope, 4400 bad message, 1009 message too big,
4008 slow consumer, 4029 too many messages, 1013 at capacity, 1001 server shutting down.

Limits (docs/security.md): `max_clients` authenticated clients, and apart from them at most
`max_pending` connections still waiting to authenticate; per client `max_queue_bytes` of queued
frames of any kind (live, snapshot, acknowledgements) and `max_messages_per_s` messages (a token
bucket of `message_burst`). A closed client's outbox is freed at once.

Writing: frames are pushed synchronously (`websockets.broadcast`, the already-encoded bytes as a
text frame) while the client's write buffer is below `write_buffer_bytes`; beyond that they wait
in the hub's conflating outbox and one writer task per backpressured client sends them as the
socket drains. A client whose outbox overflows is closed with 4008 "slow".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.protocol import State

from runtime.observability.hooks import observe_ws_closed, observe_ws_opened
from runtime.settings import BroadcasterSettings
from sinks.websocket.auth import AuthError, Principal, verify_token
from sinks.websocket.hub import ClientQueue, Hub
from sinks.websocket.protocol import (
    CHANNELS,
    CLOSE_AT_CAPACITY,
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_SLOW,
    CLOSE_TOO_MANY_MESSAGES,
    CLOSE_UNAUTHENTICATED,
    Command,
    ProtocolError,
    control,
    parse_message,
)
from sinks.websocket.static import StaticFiles

log = logging.getLogger(__name__)
# Closes that are not drops (WebSocketDropRate): a clean close or server shutdown, a refusal at
# capacity, and the client's own faults (bad message, too big, bad token, scope, flooding).
# Everything else (1006 no close frame, 1011, 4008 slow consumer, ...) counts as a drop.
NOT_DROPPED = frozenset({1000, 1001, 1009, CLOSE_AT_CAPACITY, CLOSE_BAD_MESSAGE, CLOSE_UNAUTHENTICATED,
                         CLOSE_FORBIDDEN, CLOSE_TOO_MANY_MESSAGES})


def dropped(close_code: int | None) -> bool:
    """Whether a connection that ended with `close_code` was dropped (None: still open or unknown)."""
    return close_code not in NOT_DROPPED


class Session:
    """One client connection: its principal, its queue in the hub, and how its frames get written."""

    def __init__(self, ws: ServerConnection, hub: Hub, settings: BroadcasterSettings) -> None:
        self.ws = ws
        self.hub = hub
        self.settings = settings
        self.principal: Principal | None = None
        self.queue = ClientQueue(settings.queue_size, allowed=(), on_ready=self.flush,
                                 max_bytes=settings.max_queue_bytes)
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._tokens = float(settings.message_burst)
        self._refilled = time.monotonic()

    def take_message(self) -> bool:
        """Count one client message against its token bucket; False when it is over its rate."""
        now = time.monotonic()
        rate, burst = self.settings.max_messages_per_s, self.settings.message_burst
        self._tokens = min(float(burst), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    # -- auth ----------------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> None:
        """Verify a token (raises AuthError) and apply its scopes and expiry to this session."""
        principal = verify_token(token, self.settings)
        self.principal = principal
        self.queue.allowed = principal.channels
        self.hub.unsubscribe(self.queue, [c for c in self.queue.subs if c not in principal.channels])
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if principal.expires_at is not None:
            delay = max(0.0, principal.expires_at + self.settings.jwt_leeway_s - time.time())
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self.close, CLOSE_UNAUTHENTICATED, "token expired")

    def anonymous(self) -> None:
        self.principal = Principal("anonymous", CHANNELS)
        self.queue.allowed = CHANNELS

    # -- commands ------------------------------------------------------------------------------

    def apply(self, command: Command) -> None:
        """Act on one client message; raises ProtocolError, AuthError or PermissionError."""
        queue, hub = self.queue, self.hub
        if self.principal is None or command.action == "auth":
            self.authenticate(command.token)  # the first message must carry a token if the query did not
        denied = [c for c in command.channels if c not in queue.allowed]
        if denied:
            raise PermissionError(f"token does not grant: {', '.join(denied)}")
        if command.action == "subscribe":
            # The acknowledgement is queued before the snapshot so it arrives first.
            queue.send_now(control("subscribed", subscriptions=list(command.channels)))
            hub.subscribe(queue, command.channels, command.filters)
            queue.send_now(control("synced", cursor=hub.cursor(command.channels)))
        elif command.action == "resume":
            plan = hub.plan_resume(queue, command.channels, command.filters, command.cursor, command.last_seq)
            if plan.recovered:
                queue.send_now(control("resumed", recovered=True, replayed=len(plan.items)))
                hub.resume(queue, command.channels, command.filters, plan)
            else:
                queue.send_now(control("resumed", recovered=False))
                hub.subscribe(queue, command.channels, command.filters)
            queue.send_now(control("synced", cursor=hub.cursor(command.channels)))
        elif command.action == "unsubscribe":
            hub.unsubscribe(queue, command.channels)
            queue.send_now(control("unsubscribed", subscriptions=list(command.channels)))
        elif command.action == "ping":
            queue.send_now(b'{"type":"pong"}')
        elif command.action == "auth" and self.principal is not None:
            queue.send_now(control("authenticated", subject=self.principal.subject,
                                   channels=sorted(self.principal.channels)))
        self.flush()

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Push queued frames now while the socket keeps up; else leave them to the writer task.

        A client whose outbox is still over its bound afterwards is dropped as slow.
        """
        if self.closer is not None:
            return
        ws, queue = self.ws, self.queue
        if ws.protocol.state is not State.OPEN:
            queue.discard()
            return
        if self.writer is None:  # else the writer is waiting for the socket to drain; it takes the rest
            transport, high = ws.transport, self.settings.write_buffer_bytes
            while queue.outbox:
                if transport.get_write_buffer_size() >= high:
                    self.writer = asyncio.create_task(self._write_backlog())
                    break
                frame = queue.pop()
                assert frame is not None
                broadcast((ws,), frame, text=True)
        if queue.check_slow():
            self.hub.detach(queue)
            self.close(CLOSE_SLOW, "slow")

    async def _write_backlog(self) -> None:
        """Send queued frames one by one, waiting for the socket to drain (cancel-safe: close after)."""
        try:
            while (frame := self.queue.pop()) is not None:
                await self.ws.send(frame, text=True)
        except ConnectionClosed:
            self.queue.discard()
        finally:
            self.writer = None

    def close(self, code: int, reason: str) -> None:
        """Close once, bounded by close_timeout: a client that does not read is aborted."""
        if self.closer is not None:
            return
        self.queue.discard()
        if self.writer is not None:
            self.writer.cancel()
        self.closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(self.settings.close_timeout_s):
                await self.ws.close(code, reason)
        except TimeoutError:
            self.ws.transport.abort()

    def release(self) -> None:
        """The connection is gone: free its outbox now and break the session <-> queue cycle."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self.writer is not None:
            self.writer.cancel()
        self.hub.detach(self.queue)


class Broadcaster:
    def __init__(self, settings: BroadcasterSettings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.sessions: set[Session] = set()  # every open connection
        self.clients: set[Session] = set()  # authenticated: these count toward max_clients
        self.pending: set[Session] = set()  # waiting for a token in their first message
        self.dropped_rate = 0
        self.static = StaticFiles()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/health":
            body = orjson.dumps({
                "status": "ok", "clients": len(self.clients), "pending": len(self.pending),
                "droppedSlow": self.hub.dropped_slow, "droppedRate": self.dropped_rate,
                "queuedBytes": sum(s.queue.queued_bytes for s in self.sessions),
            })
            return Response(HTTPStatus.OK, "OK", Headers([("Content-Type", "application/json")]), body)
        if url.path == "/":
            return self.static.redirect_to_board()
        if url.path != "/ws":
            page = self.static.response(url.path)  # the live board (plain files, no auth: the page asks for a token)
            return page if page is not None else connection.respond(HTTPStatus.NOT_FOUND, "use /ws or /board\n")
        # A query token is checked at once (it counts as a client); without one the connection is
        # pending until its first message, within a budget of its own.
        if not self.settings.auth_required or "token" in parse_qs(url.query):
            if len(self.clients) >= self.settings.max_clients:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "at capacity, try another server\n")
        elif len(self.pending) >= self.settings.max_pending:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many unauthenticated connections\n")
        return None

    def _admit(self, session: Session) -> bool:
        """An authenticated session becomes a client, if there is room."""
        if session in self.clients:
            return True
        if len(self.clients) >= self.settings.max_clients:
            return False
        self.pending.discard(session)
        self.clients.add(session)
        return True

    async def handle(self, ws: ServerConnection) -> None:
        """Serve one connection until it closes (runs as the connection's handler task)."""
        session = Session(ws, self.hub, self.settings)
        if self.settings.socket_send_buffer:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.socket_send_buffer)
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        self.sessions.add(session)
        opened = False
        try:
            try:
                if not self.settings.auth_required:
                    session.anonymous()
                elif query.get("token"):
                    session.authenticate(query["token"][0])
            except AuthError as exc:
                await ws.close(CLOSE_UNAUTHENTICATED, exc.reason)
                return
            if session.principal is None:
                self.pending.add(session)
            elif not self._admit(session):
                await ws.close(CLOSE_AT_CAPACITY, "at capacity, try another server")
                return
            self.hub.attach(session.queue)
            observe_ws_opened()
            opened = True
            await self._read(session)
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)
            self.pending.discard(session)
            self.clients.discard(session)
            session.release()
            if opened:
                observe_ws_closed(abnormal=dropped(ws.close_code))

    async def _read(self, session: Session) -> None:
        ws = session.ws
        while session.closer is None:
            timeout = self.settings.auth_timeout_s if session.principal is None else None
            try:
                async with asyncio.timeout(timeout):
                    text = await ws.recv()
            except TimeoutError:
                await ws.close(CLOSE_UNAUTHENTICATED, "no token received")
                return
            if not session.take_message():
                self.dropped_rate += 1
                session.close(CLOSE_TOO_MANY_MESSAGES, "too many messages")
                break
            pending = session.principal is None
            try:
                session.apply(parse_message(text))
            except ProtocolError as exc:
                await ws.close(CLOSE_BAD_MESSAGE, str(exc)[:120])
                return
            except AuthError as exc:
                await ws.close(CLOSE_UNAUTHENTICATED, exc.reason)
                return
            except PermissionError as exc:
                await ws.close(CLOSE_FORBIDDEN, str(exc)[:120])
                return
            if pending and session.principal is not None and not self._admit(session):
                session.close(CLOSE_AT_CAPACITY, "at capacity, try another server")
        assert session.closer is not None
        await session.closer

    async def serve(self, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set, then drain (see `drain`)."""
        compression = None
        extensions = None
        if self.settings.compression:
            extensions = [ServerPerMessageDeflateFactory(
                server_max_window_bits=self.settings.compression_window_bits,
                client_max_window_bits=self.settings.compression_window_bits,
                compress_settings={"level": self.settings.compression_level, "memLevel": 5},
            )]
        async with serve(
            self.handle, self.settings.host, self.settings.port, process_request=self._process_request,
            compression=compression, extensions=extensions, max_size=self.settings.max_message_bytes,
            ping_interval=self.settings.ping_interval_s, ping_timeout=self.settings.ping_timeout_s,
            close_timeout=self.settings.close_timeout_s, write_limit=self.settings.write_buffer_bytes,
            max_queue=4, backlog=4096,
        ) as server:
            if started is not None:
                started.set()
            await stop.wait()
            await self.drain(server)

    async def drain(self, server: Server) -> None:
        """Graceful shutdown: stop accepting, close every client with 1001, abort stragglers."""
        server.close(close_connections=True, code=CLOSE_GOING_AWAY, reason="server shutting down")
        try:
            async with asyncio.timeout(self.settings.drain_timeout_s):
                await server.wait_closed()
        except TimeoutError:
            log.warning("%d clients did not close within %.0fs; aborting", len(self.sessions),
                        self.settings.drain_timeout_s)
            for session in list(self.sessions):
                session.ws.transport.abort()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()
