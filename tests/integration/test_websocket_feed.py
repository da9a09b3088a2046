"""The WebSocket feed through the real pipeline: raw records -> worker -> canonical topics -> broadcaster.

Each test uses its own team names and provider ids (the stack is shared and dedupe works across
providers). The first test waits for the session's worker to catch up with the raw topics.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from connectors.publisher import KafkaPublisher
from runtime.kafka import client_options
from runtime.settings import BroadcasterSettings
from schemas.envelope import RawEnvelope
from sinks.websocket.auth import issue_token
from sinks.websocket.feed import feed_hub
from sinks.websocket.hub import Hub
from sinks.websocket.server import Broadcaster
from tests.conftest import ROOT, TIME_UNIT, fixture_path, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]

SAMPLE = "odds_soccer_epl_h2h_decimal_2024-08-19.json"


def odds_payload(unique: str, version: int = 1) -> list[dict]:
    """The recorded EPL sample with its own id and team names; `version` moves the prices."""
    text = fixture_path("theoddsapi", SAMPLE).read_text()
    text = text.replace("Leicester City", f"Leicester {unique}").replace("Tottenham Hotspur", f"Spurs {unique}")
    event = dict(json.loads(text)[0], id=unique)
    for outcome in event["bookmakers"][0]["markets"][0]["outcomes"]:
        outcome["price"] = round(outcome["price"] + version / 100, 2)
    return [event]


class Publisher:
    def __init__(self, publisher: KafkaPublisher) -> None:
        self.publisher = publisher

    async def odds(self, unique: str, version: int = 1) -> None:
        await self.publisher.publish([RawEnvelope(provider="theoddsapi", feed="odds", key=unique,
                                                  payload=odds_payload(unique, version))])


@pytest.fixture(scope="module")
async def raw(stack, worker):
    """A raw publisher, once the session's worker has caught up (it may start behind a backlog)."""
    async with KafkaPublisher(client_options(stack)) as publisher:
        pub = Publisher(publisher)
        hub, stop, ready = Hub(), asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(feed_hub(stack, hub, stop, replay_s=0, ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        probe = f"probe{time.time_ns()}"
        await pub.odds(probe)
        deadline = time.monotonic() + 300 * TIME_UNIT
        while not any(i.bookmaker and probe in i.frame.decode() for i in hub.state["betting_odds"].values()):
            assert time.monotonic() < deadline, "the worker did not catch up within 300 s"
            await asyncio.sleep(0.2)
        stop.set()
        await task
        yield pub


@pytest.fixture
async def feed(stack):
    """Factory: an in-process broadcaster on a free port, fed from the real canonical topics."""
    running = []

    async def start(**overrides) -> tuple[str, BroadcasterSettings, Hub]:
        settings = BroadcasterSettings(port=free_port(), **overrides)
        hub, stop, ready, started = Hub(ring_size=settings.resume_ring_records), asyncio.Event(), asyncio.Event(), \
            asyncio.Event()
        server = Broadcaster(settings, hub)
        running.append((stop, [asyncio.create_task(feed_hub(stack, hub, stop, replay_s=0, ready=ready)),
                               asyncio.create_task(server.serve(stop, started))]))
        await asyncio.wait_for(asyncio.gather(ready.wait(), started.wait()), 30)
        return f"ws://127.0.0.1:{settings.port}/ws", settings, hub

    yield start
    for stop, tasks in running:
        stop.set()
        await asyncio.gather(*tasks)


async def event_id_of(hub: Hub, unique: str) -> str:
    """The canonical event id the worker gave the fixture with these team names."""
    async with asyncio.timeout(30 * TIME_UNIT):
        while True:
            for item in list(hub.state["betting_odds"].values()):
                if unique in item.frame.decode() and item.event_id:
                    return item.event_id
            await asyncio.sleep(0.05)


def mine(unique: str):
    return lambda f: unique in (f.get("homeTeam") or "")


async def read_until(ws: ClientConnection, done, keep=lambda f: True, timeout: float = 30.0) -> list[dict]:
    """Read frames, keeping those `keep` selects, until `done(kept)` holds."""
    kept: list[dict] = []
    async with asyncio.timeout(timeout * TIME_UNIT):
        while not done(kept):
            frame = orjson.loads(await ws.recv())
            if keep(frame):
                kept.append(frame)
    return kept


async def read_all(ws: ClientConnection, into: list[dict], timeout: float) -> None:
    """Read until the connection closes (raises ConnectionClosed)."""
    async with asyncio.timeout(timeout * TIME_UNIT):
        while True:
            into.append(orjson.loads(await ws.recv()))


def merge_cursor(cursor: dict[str, int], frame: dict) -> None:
    """What a client does with every frame: remember the highest offset per topic-partition."""
    if frame.get("type") == "synced":
        for tp, offset in frame["cursor"].items():
            cursor[tp] = max(cursor.get(tp, -1), offset)
    elif "cursor" in frame and isinstance(frame["cursor"], str):
        topic, partition, offset = frame["cursor"].rsplit(":", 2)
        tp = f"{topic}:{partition}"
        cursor[tp] = max(cursor.get(tp, -1), int(offset))


def odds_seqs(frames: list[dict]) -> list[int]:
    return [f["seq"] for f in frames if f.get("type") == "odds"]


async def test_snapshot_on_subscribe_then_deltas(raw, feed, unique):
    """A new subscriber gets the current state of matching entities, a sync marker, then deltas."""
    url, settings, _hub = await feed()
    token = issue_token(settings, "snap")
    async with connect(f"{url}?token={token}") as first:
        await first.send('{"action":"subscribe","subscriptions":["betting_odds"]}')
        await raw.odds(unique, 1)
        [odds] = await read_until(first, lambda k: len(k) == 1, mine(unique))
    async with connect(f"{url}?token={token}") as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "subscriptions": ["betting_odds", "live_scores"],
                                    "filters": {"eventIds": [odds["eventId"]]}}).decode())
        frames = await read_until(ws, lambda k: k[-1:] and k[-1].get("type") == "synced", timeout=10)
        assert frames[0] == {"type": "subscribed", "subscriptions": ["betting_odds", "live_scores"]}
        snapshot = {f["channel"]: f for f in frames[1:-1]}
        assert set(snapshot) == {"betting_odds", "live_scores"}
        assert snapshot["betting_odds"]["seq"] == 1
        assert snapshot["live_scores"]["id"] == odds["eventId"]
        assert all(isinstance(f["seq"], int) and f["cursor"].count(":") == 2 for f in snapshot.values())
        await raw.odds(unique, 2)
        [delta] = await read_until(ws, lambda k: len(k) == 1, lambda f: f.get("type") == "odds")
        assert delta["seq"] == 2


async def test_resume_receives_exactly_what_was_missed(raw, feed, unique):
    """A client that reconnects with its cursor gets the versions published while it was away, once."""
    url, settings, hub = await feed()
    token = issue_token(settings, "resume")
    cursor: dict[str, int] = {}
    async with connect(f"{url}?token={token}") as ws:
        await ws.send('{"action":"subscribe","subscriptions":["betting_odds"]}')
        await raw.odds(unique, 1)
        seen = await read_until(ws, lambda k: any(mine(unique)(f) for f in k))
        for frame in seen:
            merge_cursor(cursor, frame)
    odds = next(f for f in seen if mine(unique)(f))
    key = f"{odds['eventId']}|{odds['bookmaker']}|{odds['market']}"
    for version in (2, 3, 4):
        await raw.odds(unique, version)
    async with asyncio.timeout(30 * TIME_UNIT):
        while getattr(hub.state["betting_odds"].get(key), "seq", 0) < 4:
            await asyncio.sleep(0.05)

    only_mine = {"eventIds": [odds["eventId"]]}
    async with connect(f"{url}?token={token}") as ws:
        await ws.send(orjson.dumps({"action": "resume", "subscriptions": ["betting_odds"], "filters": only_mine,
                                    "cursor": cursor}).decode())
        frames = await read_until(ws, lambda k: k[-1:] and k[-1].get("type") == "synced", timeout=10)
    assert frames[0] == {"type": "resumed", "recovered": True, "replayed": 3}
    assert odds_seqs(frames) == [2, 3, 4]

    async with connect(f"{url}?token={token}") as ws:  # per-entity seqs instead of a cursor
        await ws.send(orjson.dumps({"action": "resume", "subscriptions": ["betting_odds"], "filters": only_mine,
                                    "lastSeq": {key: 2}}).decode())
        frames = await read_until(ws, lambda k: k[-1:] and k[-1].get("type") == "synced", timeout=10)
    assert frames[0] == {"type": "resumed", "recovered": True, "replayed": 2}
    assert odds_seqs(frames) == [3, 4]

    async with connect(f"{url}?token={token}") as ws:  # from before this process started: resnapshot
        stale = dict.fromkeys(cursor, -1)
        await ws.send(orjson.dumps({"action": "resume", "subscriptions": ["betting_odds"], "filters": only_mine,
                                    "cursor": stale}).decode())
        frames = await read_until(ws, lambda k: k[-1:] and k[-1].get("type") == "synced", timeout=10)
    assert frames[0] == {"type": "resumed", "recovered": False}
    assert odds_seqs(frames) == [4]


async def test_slow_client_is_conflated_then_dropped_and_others_are_unaffected(raw, feed, unique):
    """A client that stops reading gets the latest state per entity, then is closed with 4008 "slow"."""
    url, settings, hub = await feed(queue_size=4, write_buffer_bytes=1024, socket_send_buffer=4096,
                                    close_timeout_s=20)
    token = issue_token(settings, "slow")
    # One entity for phase 1 and, for phase 2, two more than the bound: the client is dropped even if the
    # kernel takes a frame or two of its backlog meanwhile (with exactly the bound it may not be).
    fixtures = [f"{unique}{n}" for n in range(7)]
    for name in fixtures:
        await raw.odds(name, 1)
    event_of = {name: await event_id_of(hub, name) for name in fixtures}
    only_mine = orjson.dumps({"action": "subscribe", "subscriptions": ["betting_odds"],
                              "filters": {"eventIds": list(event_of.values())}}).decode()
    async with connect(f"{url}?token={token}") as fast:
        await fast.send(only_mine)
        await read_until(fast, lambda k: len(k) == len(fixtures), lambda f: any(mine(n)(f) for n in fixtures))

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", settings.port))
        sock.setblocking(False)
        async with connect(f"{url}?token={token}", sock=sock, max_queue=1) as slow:
            await slow.send(only_mine)
            await asyncio.sleep(0.5)
            # Phase 1: one entity changes many times; the stalled client's outbox holds only its latest.
            versions = 60
            for version in range(2, versions + 1):
                await raw.odds(fixtures[0], version)
            first = await read_until(fast, lambda k: odds_seqs(k)[-1:] == [versions], mine(fixtures[0]))
            # The reading client keeps up and reaches the latest version in order; on a loaded box its
            # own outbox may conflate a few intermediate versions too (allowed for betting_odds).
            seqs = odds_seqs(first)
            assert seqs == sorted(set(seqs))
            assert seqs[-1] == versions
            assert len(seqs) >= versions // 2
            assert hub.stats()["conflated"] > 0
            assert hub.stats()["dropped_slow"] == 0
            # Phase 2: more distinct entities than its bound are pending: it is dropped.
            started = time.monotonic()
            for name in fixtures[1:]:
                await raw.odds(name, 2)
            rest = await read_until(fast, lambda k: len(k) == len(fixtures) - 1,
                                    lambda f: any(mine(n)(f) for n in fixtures[1:]))
            assert sorted(odds_seqs(rest)) == [2] * (len(fixtures) - 1)
            assert time.monotonic() - started < 10 * TIME_UNIT
            async with asyncio.timeout(10 * TIME_UNIT):
                while hub.stats()["dropped_slow"] < 1:
                    await asyncio.sleep(0.05)
            received: list[dict] = []
            with pytest.raises(ConnectionClosed) as closed:
                await read_all(slow, received, 15)
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4008, "slow")
            seqs = odds_seqs([f for f in received if mine(fixtures[0])(f)])
            assert seqs == sorted(seqs)
            assert len(seqs) < versions
        await raw.odds(fixtures[0], versions + 1)  # the fast client is still served
        await read_until(fast, lambda k: odds_seqs(k)[-1:] == [versions + 1], mine(fixtures[0]))


async def test_bad_tokens_are_refused_with_clear_close_codes(stack, feed):
    """Missing, expired, badly signed, `alg: none` and out-of-scope tokens are refused."""
    import jwt

    url, settings, _hub = await feed()
    secret = settings.jwt_secret.get_secret_value()
    expired = issue_token(settings, "x", ttl_s=-60)
    forged = jwt.encode({"sub": "x", "exp": 9999999999}, "a-wrong-secret-that-is-long-enough-for-hs256",
                        algorithm="HS256")
    unsigned = jwt.encode({"sub": "x", "exp": 9999999999, "scope": "*"}, None, algorithm="none")
    for token, reason in ((expired, "token expired"), (forged, "bad signature"), (unsigned, "not accepted")):
        async with connect(f"{url}?token={token}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401
            assert reason in closed.value.rcvd.reason
    async with connect(url) as ws:  # no token anywhere
        await ws.send('{"action":"subscribe","subscriptions":["live_scores"]}')
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "missing token")
    scoped = jwt.encode({"sub": "x", "exp": 9999999999, "scope": "live_scores"}, secret, algorithm="HS256")
    async with connect(url) as ws:  # token in the first message; then a channel it does not grant
        await ws.send(orjson.dumps({"action": "auth", "token": scoped}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "authenticated"
        await ws.send('{"action":"subscribe","subscriptions":["betting_odds"]}')
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 4403


def start_broadcaster(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SPORTSFLOW_BROADCASTER__PORT": str(port), "SPORTSFLOW_BROADCASTER__REPLAY_S": "60",
           "SPORTSFLOW_BROADCASTER__DRAIN_TIMEOUT_S": "5", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "broadcast"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_healthy(port: int) -> None:
    def get() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    async with asyncio.timeout(60 * TIME_UNIT):
        while not await asyncio.to_thread(get):
            await asyncio.sleep(0.2)


async def test_two_broadcaster_processes_each_deliver_every_update_and_drain_on_sigterm(raw, unique):
    """Two `sportsflow broadcast` processes side by side deliver the same frames; cursors move between them."""
    ports = [free_port(), free_port()]
    procs = [start_broadcaster(port) for port in ports]
    try:
        await asyncio.gather(*(wait_healthy(port) for port in ports))
        token = issue_token(BroadcasterSettings(), "scale")
        urls = [f"ws://127.0.0.1:{port}/ws?token={token}" for port in ports]
        async with connect(urls[0]) as a, connect(urls[1]) as b:
            for ws in (a, b):
                await ws.send('{"action":"subscribe","subscriptions":["betting_odds"]}')
            synced = await asyncio.gather(*(read_until(ws, bool, lambda f: f.get("type") == "synced")
                                            for ws in (a, b)))  # the snapshots are through
            for version in (1, 2, 3):
                await raw.odds(unique, version)
            mine_or_sync = lambda f: mine(unique)(f) or f.get("type") == "synced"  # noqa: E731
            got = await asyncio.gather(*(read_until(ws, lambda k: odds_seqs(k)[-1:] == [3], mine_or_sync)
                                         for ws in (a, b)))
            assert odds_seqs(got[0]) == odds_seqs(got[1]) == [1, 2, 3]
            assert [f["cursor"] for f in got[0] if mine(unique)(f)] == [f["cursor"] for f in got[1] if mine(unique)(f)]
        cursor: dict[str, int] = {}
        for frame in synced[0] + got[0]:
            merge_cursor(cursor, frame)
        for version in (4, 5):
            await raw.odds(unique, version)
        await asyncio.sleep(1.0)
        event_id = next(f["eventId"] for f in got[0] if mine(unique)(f))
        async with connect(urls[1]) as b:  # resume on the other process with the first one's cursor
            await b.send(orjson.dumps({"action": "resume", "subscriptions": ["betting_odds"], "cursor": cursor,
                                       "filters": {"eventIds": [event_id]}}).decode())
            frames = await read_until(b, lambda k: k[-1:] and k[-1].get("type") == "synced", timeout=10)
        assert frames[0]["recovered"] is True
        assert odds_seqs(frames) == [4, 5]

        async with connect(urls[0]) as a:  # SIGTERM: the client is told to go away, the process exits
            await a.send('{"action":"subscribe","subscriptions":["live_scores"]}')
            await asyncio.wait_for(a.recv(), 5)
            procs[0].send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await read_all(a, [], 10)
            assert closed.value.rcvd.code == 1001
        assert await asyncio.to_thread(procs[0].wait, 10) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


async def test_client_written_from_the_original_engines_interface(raw, unique):
    """Demo token in the query, the documented subscribe message, and SportsEvent-shaped live_scores."""
    port = free_port()
    proc = start_broadcaster(port)
    try:
        await wait_healthy(port)
        token = subprocess.run([sys.executable, "-m", "pipeline.cli", "token"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout.strip()
        async with connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
            await ws.send(json.dumps({"action": "subscribe", "subscriptions": ["live_scores", "betting_odds"]}))
            await raw.odds(unique, 1)
            [event] = await read_until(ws, lambda k: len(k) == 1,
                                       lambda f: f.get("channel") == "live_scores" and mine(unique)(f))
        assert isinstance(event["id"], str)
        assert isinstance(event["sport"], str)
        assert (event["homeTeam"], event["awayTeam"]) == (f"Leicester {unique}", f"Spurs {unique}")
        assert set(event["score"]) >= {"home", "away"}
        assert isinstance(event["status"], str)
        assert isinstance(event["timestamp"], str)
        assert isinstance(event["seq"], int)
    finally:
        proc.terminate()
        proc.wait(10)
