"""Attacks on a running `sportsflow broadcast` process: floods from clients that never read, idle
unauthenticated sockets; judged by its RSS, its /health counters, close codes and another client's ping."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from runtime.settings import BroadcasterSettings
from sinks.websocket.auth import issue_token
from sinks.websocket.protocol import CHANNELS
from tests.abuse.procs import Proc
from tests.conftest import TIME_UNIT
from tests.web.test_auth import signed

pytestmark = pytest.mark.integration

RSS_BUDGET_MB = 256
TOKEN = issue_token(BroadcasterSettings(), "abuse-test")
NO_CHANNELS = issue_token(BroadcasterSettings(), "abuse-test-none", channels=["none"])
UNSUBSCRIBE = orjson.dumps({"action": "unsubscribe", "subscriptions": []}).decode()
SUBSCRIBE_ALL = orjson.dumps({"action": "subscribe", "subscriptions": sorted(CHANNELS)}).decode()


def ws_url(proc: Proc, token: str | None = TOKEN) -> str:
    return f"ws://127.0.0.1:{proc.port}/ws" + (f"?token={token}" if token else "")


def health(proc: Proc) -> dict:
    return httpx.get(f"{proc.url}/health", timeout=5).json()


async def never_reading(url: str) -> ClientConnection:
    """A client whose socket holds 4 KB and whose library stops reading after one message."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(url.split(":")[2].split("/", maxsplit=1)[0])))
    sock.setblocking(False)
    return await connect(url, sock=sock, max_queue=1, ping_interval=None, max_size=None)


async def flood(ws: ClientConnection, message: str, seconds: float, count: int = 20_000) -> int:
    """Send `message` `count` times as fast as the server takes it, for at most `seconds`, or until the
    server stops reading (a send blocked for a second); how many were sent. 20,000 acknowledgements are
    ~4 MB queued for a client that does not read them."""
    sent, deadline = 0, time.monotonic() + seconds
    with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
        while sent < count and time.monotonic() < deadline:
            async with asyncio.timeout(1.0):
                await ws.send(message)
            sent += 1
    return sent


async def close_code(ws: ClientConnection, timeout: float = 30) -> int | None:
    """Read (at last) everything the server sent until its close frame; its code."""
    try:
        async with asyncio.timeout(timeout * TIME_UNIT):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


async def ping_rtts(ws: ClientConnection, count: int, pause: float = 0.1) -> list[float]:
    """Round trips of protocol pings (`{"action":"ping"}` -> pong) of a client that reads everything
    (10 a second: well within the message rate a client is allowed)."""
    rtts = []
    for _ in range(count):
        start = time.perf_counter()
        await ws.send('{"action":"ping"}')
        while orjson.loads(await ws.recv()).get("type") != "pong":
            pass
        rtts.append(time.perf_counter() - start)
        await asyncio.sleep(pause)
    return rtts


def attack(proc: Proc, seconds: float) -> tuple[list[int | None], list[int]]:
    """In a thread of its own (its own event loop, so the measuring client's loop stays free): for `seconds`,
    waves of three never-reading clients (one whose token grants no channel) flooding unsubscribe, unsubscribe
    and subscribe-to-all, each then reading its close code; the codes, and how many messages each sent."""
    async def hit(message: str, token: str) -> tuple[int | None, int]:
        ws = await never_reading(ws_url(proc, token))
        sent = await flood(ws, message, seconds)
        return await close_code(ws), sent

    async def waves() -> tuple[list[int | None], list[int]]:
        results: list[tuple[int | None, int]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            results += await asyncio.gather(hit(UNSUBSCRIBE, NO_CHANNELS), hit(UNSUBSCRIBE, TOKEN),
                                            hit(SUBSCRIBE_ALL, TOKEN))
        return [code for code, _ in results], [sent for _, sent in results]

    return asyncio.run(waves())


async def test_floods_from_never_reading_clients_are_dropped_and_memory_stays_bounded(broadcaster_proc):
    """With 1,000 idle clients connected, waves of never-reading clients flooding unsubscribe and
    subscribe-to-all are all closed (4029), the process stays under 256 MB and a reading client's ping
    stays fast."""
    proc = broadcaster_proc
    idle = await asyncio.gather(*(connect(ws_url(proc), ping_interval=None) for _ in range(1000)))
    try:
        async with connect(ws_url(proc), ping_interval=None, max_size=None) as good:
            await good.send(orjson.dumps({"action": "subscribe", "subscriptions": ["live_scores"]}).decode())
            while orjson.loads(await good.recv()).get("type") != "synced":
                pass
            quiet = statistics.median(await ping_rtts(good, 10))
            rss_before = proc.rss_mb()
            attacking = asyncio.create_task(asyncio.to_thread(attack, proc, 5 * TIME_UNIT))
            rss_peak, under_attack = rss_before, []
            while not attacking.done():
                under_attack.extend(await ping_rtts(good, 1))
                rss_peak = max(rss_peak, proc.rss_mb())
            codes, sent = attacking.result()
            after = statistics.median(await ping_rtts(good, 10))
    finally:
        await asyncio.gather(*(ws.close() for ws in idle))
    assert len(codes) >= 3
    assert set(codes) == {4029}, (codes, sent)
    assert health(proc)["droppedRate"] >= len(codes)
    assert rss_peak < RSS_BUDGET_MB, (rss_before, rss_peak)
    assert statistics.median(under_attack) < 0.05 * TIME_UNIT, (quiet, under_attack)
    assert after < 0.05 * TIME_UNIT, (quiet, after)


async def test_control_frames_count_against_the_byte_budget(tight_broadcaster_proc):
    """Without a message rate limit, a never-reading client's acknowledgements fill its 256 KB budget and it
    is closed with 4008; its queue is freed (the process's queued bytes fall back) and memory stays bounded."""
    proc = tight_broadcaster_proc
    rss_before = proc.rss_mb()
    attacker = await never_reading(ws_url(proc, NO_CHANNELS))
    sent = await flood(attacker, UNSUBSCRIBE, 20 * TIME_UNIT)
    state = health(proc)
    code = await close_code(attacker)
    assert code == 4008, (code, sent, state)
    assert state["droppedSlow"] == 1
    deadline = time.monotonic() + 10 * TIME_UNIT
    while (state := health(proc))["clients"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert state["clients"] == 0
    assert state["queuedBytes"] == 0
    assert proc.rss_mb() < rss_before + 64, (rss_before, proc.rss_mb())


async def test_unauthenticated_sockets_have_their_own_budget(broadcaster_proc):
    """60 idle sockets without a token: 50 are held as pending, the rest refused (503); a client with a
    token still gets in, because pending sockets do not count toward max_clients."""
    proc = broadcaster_proc
    held, refused = [], 0
    try:
        for _ in range(60):
            try:
                held.append(await connect(ws_url(proc, None), ping_interval=None))
            except InvalidStatus as exc:
                refused += exc.response.status_code == 503
        assert health(proc)["pending"] == 50
        assert refused == 10
        async with connect(ws_url(proc), ping_interval=None) as client:
            await client.send('{"action":"ping"}')
            assert orjson.loads(await client.recv())["type"] == "pong"
    finally:
        await asyncio.gather(*(ws.close() for ws in held))


async def test_tokens_with_odd_claims_are_refused_or_expire(broadcaster_proc):
    """On the running broadcaster: `scope: 123` and `exp: 10**400` are closed with 4401 (not 1011), and a
    token whose `exp` is a string is closed (4401) when it expires."""
    proc = broadcaster_proc
    for claims in ({"sub": "s", "exp": 4_000_000_000, "scope": 123}, {"sub": "s", "exp": 10**400, "scope": "*"}):
        async with connect(ws_url(proc, signed(claims))) as ws:
            assert await close_code(ws, timeout=10) == 4401
    soon = int(time.time()) + 1
    async with connect(ws_url(proc, signed({"sub": "s", "exp": str(soon), "scope": "*"}))) as ws:
        await ws.send('{"action":"ping"}')
        assert orjson.loads(await ws.recv())["type"] == "pong"
        # exp + the 5 s leeway: then the server closes the connection
        assert await close_code(ws, timeout=15) == 4401


@pytest.mark.parametrize(("message", "code"), [
    ("x" * (2 * 1024 * 1024), 1009),                                      # a 2 MB frame (limit 64 KB)
    ("{not json", 4400),
    ("[" * 20_000 + "]" * 20_000, 4400),                                  # 20,000-deep JSON
    ('{"action": "subscribe", "subscriptions": ["nope"]}', 4400),
    ('{"action": "subscribe", "subscriptions": ["live_scores"], "filters": {"eventIds": ["e"]}}', None),  # fine
])
async def test_bad_messages_close_cleanly_and_the_process_lives_on(broadcaster_proc, message, code):
    """Oversized, malformed, deeply nested and unknown-channel messages close that client with its code;
    the process keeps answering /health."""
    async with connect(ws_url(broadcaster_proc), ping_interval=None, max_size=None) as ws:
        await ws.send(message)
        if code is None:
            assert orjson.loads(await ws.recv())["type"] == "subscribed"
        else:
            assert await close_code(ws, timeout=15) == code
    assert health(broadcaster_proc)["status"] == "ok"


async def test_long_urls_and_headers_on_the_handshake_are_refused(broadcaster_proc):
    """A 100 KB URL or header on the WebSocket handshake is refused (no connection) and the process lives on."""
    proc = broadcaster_proc
    for request in (f"GET /ws?token={'a' * 100_000} HTTP/1.1\r\nHost: x\r\n\r\n",
                    f"GET /ws HTTP/1.1\r\nHost: x\r\nX-Long: {'b' * 100_000}\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(request.encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        async with asyncio.timeout(15 * TIME_UNIT):
            answer = await reader.read(200)
        writer.close()
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
    assert health(proc)["status"] == "ok"
