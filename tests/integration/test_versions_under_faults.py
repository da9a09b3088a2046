"""Versions under faults, audited from the outside: the canonical topic, DynamoDB and a WebSocket client.

One run interleaves, on a broker of the test's own (so no other worker shares its topics):
score updates of several games with repeats and stale (out-of-order) polls; a worker killed with
SIGKILL in the middle of a burst and restarted; a second worker joining the group (a rebalance),
working, and leaving in the middle (SIGTERM: its partitions and their tables go back to the first);
the broker restarted in the middle; a game silent for longer than the state TTL (its state expires,
its next update starts a new lineage); two overlapping replays of the raw topic. A DynamoDB sink and
a WebSocket broadcaster with a real client run throughout. A worker that stops by itself (it exits
when it cannot go on safely, agents/liveness.py) is started again, as a supervisor would. The audit:

- one (entity, epoch, seq) names one content, on the topic, in DynamoDB's history and on the feed;
- no gap inside a lineage (seq counts 1, 2, 3...); no two consecutive versions with one content,
  inside a lineage or across one ending and the next starting;
- no score or status moving back without `correction`;
- the newest version of each game is its last state served, and DynamoDB's current-state item is it;
- a game silent for longer than the TTL starts a new lineage; a game never silent that long keeps
  one (a second lineage would mean its state was lost), however slow the box made the run;
- the client received every version of the topic, each once;
- the replays publish nothing (everything they read is already there);
- every worker asked to stop (SIGTERM), the first one after the broker restart, exits within STOP_S.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
import subprocess
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from websockets.asyncio.client import connect

from agents.stages.ordering import STATUS_RANK, content_hash
from benchmarks._procs import ROOT, Worker, restart_broker
from benchmarks._stack import OwnKafka
from benchmarks.accuracy import team_name
from connectors.publisher import KafkaPublisher
from pipeline.provision import ensure_topics
from pipeline.replay.run import Request, run_replay
from pipeline.replay.select import build_selection
from runtime.aws import boto_client
from runtime.kafka import client_options, partitions_of
from runtime.settings import BroadcasterSettings, Settings
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.providers import providers
from schemas.timeutil import iso_z
from sinks.dynamodb import is_newer, run_dynamodb_sink
from sinks.websocket.auth import issue_token
from sinks.websocket.feed import feed_hub
from sinks.websocket.hub import Hub
from sinks.websocket.server import Broadcaster
from tests.agents.sinks import running, sink_settings
from tests.conftest import TIME_UNIT, free_port

pytestmark = pytest.mark.integration

GAMES = 8
ROUNDS = 10
TTL_S = 30.0  # longer than any gap between two updates of a game that is not silent (a broker restart included)
STOP_S = 20.0  # a worker asked to stop (SIGTERM) exits within this, whatever happened before
FRAME_ONLY = frozenset({"channel", "cursor", "stages"})


class Game:
    """One Odds API scores entity whose score moves forward one goal per round."""

    def __init__(self, run: str, n: int, rng: random.Random) -> None:
        seed = int(run, 16) % 100_000
        self.id = f"pf-{run}-{n}"
        self.home, self.away = team_name(seed, n, "home"), team_name(seed, n, "away")
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        self.base = datetime.now(UTC).replace(microsecond=0)
        self.states: list[tuple[int, int]] = [(0, 0)]
        for _ in range(ROUNDS + 1):
            h, a = self.states[-1]
            self.states.append((h + 1, a) if rng.random() < 0.5 else (h, a + 1))
        self.served: list[tuple[tuple[int, int], str]] = []  # what a consumer must end with, in order
        self.sent_at: list[float] = []  # when each of its updates was published (wall clock, s)

    def envelope(self, step: int) -> RawEnvelope:
        home, away = self.states[step]
        payload = [{"id": self.id, "sport_key": "soccer_epl", "sport_title": "EPL",
                    "commence_time": iso_z(self.start), "completed": step == ROUNDS + 1,
                    "home_team": self.home, "away_team": self.away,
                    "last_update": iso_z(self.base + timedelta(seconds=step)),
                    "scores": [{"name": self.home, "score": str(home)}, {"name": self.away, "score": str(away)}]}]
        return RawEnvelope(provider="theoddsapi", feed="scores", key=self.id, payload=payload)


async def publish_round(publisher: KafkaPublisher, games: list[Game], step: int, rng: random.Random,
                        skip: frozenset[int] = frozenset()) -> None:
    """Each game's state `step`, some twice (a repeated poll), some followed by an older one (a stale poll)."""
    batch = []
    for n, game in enumerate(games):
        if n in skip:
            continue
        batch.append(game.envelope(step))
        game.sent_at.append(time.time())
        status = "final" if step == ROUNDS + 1 else "live"
        game.served.append((game.states[step], status))
        if rng.random() < 0.3:
            batch.append(game.envelope(step))
        if step >= 2 and rng.random() < 0.3:
            batch.append(game.envelope(step - 2))
    await publisher.publish(batch)


class Reader:
    """Reads a topic of the test's broker from its beginning."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
        self.topic = topic
        self.records: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self.consumer.start()
        parts = [TopicPartition(self.topic, p) for p in sorted(await partitions_of(self.consumer, self.topic))]
        self.consumer.assign(parts)
        await self.consumer.seek_to_beginning(*parts)

    async def poll(self) -> None:
        for messages in (await self.consumer.getmany(timeout_ms=200)).values():
            self.records.extend(orjson.loads(m.value) for m in messages)


class Client:
    """A real WebSocket client subscribed to live scores; keeps every frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def run(self, url: str, subscribed: asyncio.Event) -> None:
        async with connect(url) as ws:
            await ws.send(json.dumps({"action": "subscribe", "subscriptions": ["live_scores"]}))
            async for message in ws:
                frame = orjson.loads(message)
                if frame.get("type") == "subscribed":
                    subscribed.set()
                elif frame.get("type") == "event":
                    self.frames.append(frame)


def newest(versions: dict[tuple[int, int], dict[str, Any]]) -> dict[str, Any]:
    """The newest version by the stream's order (same epoch: seq; else the record time, then epoch)."""
    def triple(record: dict[str, Any]) -> tuple[int, int, int]:
        ts = int(datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
        return int(record["epoch"]), int(record["seq"]), ts
    best: dict[str, Any] | None = None
    for record in versions.values():
        if best is None or is_newer(triple(record), triple(best)):
            best = record
    assert best is not None
    return best


def audit_lineages(key: str, versions: dict[tuple[int, int], dict[str, Any]], failures: list[str]) -> None:
    """Seqs 1, 2, 3... in each lineage; along the whole chain (lineages in the order they started), no two
    consecutive versions with one content and no score or status moving back without a correction."""
    by_epoch: dict[int, list[int]] = defaultdict(list)
    for epoch, seq in sorted(versions):
        by_epoch[epoch].append(seq)
    for epoch, seqs in by_epoch.items():
        if seqs != list(range(1, len(seqs) + 1)):
            failures.append(f"{key} epoch {epoch}: seqs {seqs} (a gap)")
    chain = [versions[v] for v in sorted(versions)]  # an epoch is the time its lineage started
    for a, b in itertools.pairwise(chain):
        where = f"{key} {b['epoch']}#{b['seq']}"
        if content_hash(a) == content_hash(b):
            failures.append(f"{where}: same content as {a['epoch']}#{a['seq']} (a version for nothing)")
        back = (b["score"]["home"] < a["score"]["home"] or b["score"]["away"] < a["score"]["away"]
                or STATUS_RANK.get(b["status"], 0) < STATUS_RANK.get(a["status"], 0))
        if back and not b.get("correction"):
            failures.append(f"{where}: moved back from {a['epoch']}#{a['seq']} without a correction")


async def replay(settings: Settings, start: datetime, end: datetime, keys: list[str]) -> dict[str, int]:
    selection = build_selection(topic_names=[topics.raw_topic("theoddsapi")], start=iso_z(start), end=iso_z(end),
                                keys=keys, known_providers=providers())
    request = Request(selection, "kafka", output=None, resume=None, progress=False)
    report = await run_replay(settings, request, asyncio.Event(), Console(file=io.StringIO()))
    assert report.read > 0
    return {topic: n for topic, n in report.published.items() if n}


async def wait_committed(settings: Settings, group: str, topic: str, timeout_s: float = 60.0) -> None:
    """Until `group` has committed the end of `topic` (it processed everything published so far)."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        async with asyncio.timeout(timeout_s * TIME_UNIT):
            while True:
                committed = await admin.list_consumer_group_offsets(group)
                if all(end == 0 or (tp in committed and committed[tp].offset >= end) for tp, end in ends.items()):
                    return
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def supervise(worker: Worker, exits: list[int], stopping: set[Worker]) -> None:
    """Start again a worker that stopped by itself (exit code > 0), as ECS or systemd would: a worker
    that finds it cannot go on safely exits (agents/liveness.py). Killed or stopped ones are the test's."""
    while True:
        proc = worker.proc
        if proc is not None and worker not in stopping and proc.poll() is not None and proc.returncode > 0:
            exits.append(proc.returncode)
            worker.start(wait_ready=False)
        await asyncio.sleep(0.5)


def timed_stop(worker: Worker) -> tuple[float, int | None]:
    """SIGTERM, then SIGKILL after STOP_S: (seconds until it exited, its exit code; negative if killed)."""
    assert worker.proc is not None
    started = time.monotonic()
    worker.proc.terminate()
    try:
        worker.proc.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        worker.proc.wait()
    return time.monotonic() - started, worker.proc.returncode


def game_of(record: dict[str, Any]) -> str | None:
    return (record.get("refs") or {}).get("theoddsapi")


def topic_versions(records: list[dict[str, Any]], games: list[Game],
                   failures: list[str]) -> dict[str, dict[tuple[int, int], dict[str, Any]]]:
    """Per game, its versions on the topic; a version read again must carry the same content."""
    ours = {g.id for g in games}
    versions: dict[str, dict[tuple[int, int], dict[str, Any]]] = defaultdict(dict)
    for record in records:
        game = game_of(record)
        if game not in ours:
            continue
        version = (int(record["epoch"]), int(record["seq"]))
        found = versions[game].get(version)
        if found is not None and content_hash(found) != content_hash(record):
            failures.append(f"topic: {game} {version} names two contents: {found['score']} and {record['score']}")
        versions[game].setdefault(version, record)
    for game, chain in versions.items():
        audit_lineages(game, chain, failures)
    return versions


def audit_dynamodb(ddb: Any, table: str, versions: dict[str, dict[tuple[int, int], dict[str, Any]]],
                   failures: list[str]) -> None:
    """Each history row holds its version's content; the current-state item is the newest version."""
    deadline = time.monotonic() + 30 * TIME_UNIT
    while True:
        found: list[str] = []
        for game, chain in versions.items():
            pk = f"EVENT#{newest(chain)['id']}"
            items = ddb.query(TableName=table, KeyConditionExpression="pk = :pk",
                              ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)["Items"]
            rows = {item["sk"]["S"]: orjson.loads(item["record"]["S"]) for item in items}
            state = rows.pop("STATE", None)
            history = {(int(r["epoch"]), int(r["seq"])): r for r in rows.values()}
            for version, record in chain.items():
                row = history.get(version)
                if row is None:
                    found.append(f"dynamodb: {game} {version} has no history row")
                elif content_hash(row) != content_hash(record):
                    found.append(f"dynamodb: {game} {version} history row holds other content")
            extra = set(history) - set(chain)
            if extra:
                found.append(f"dynamodb: {game} history rows {sorted(extra)} were never on the topic")
            best = newest(chain)
            if state is None or (state["epoch"], state["seq"]) != (best["epoch"], best["seq"]) \
                    or content_hash(state) != content_hash(best):
                where = state and (state["epoch"], state["seq"])
                found.append(f"dynamodb: {game} current state {where}, newest {(best['epoch'], best['seq'])}")
        if not found or time.monotonic() > deadline:
            failures.extend(found)
            return
        time.sleep(0.5)


def audit_frames(frames: list[dict[str, Any]], versions: dict[str, dict[tuple[int, int], dict[str, Any]]],
                 failures: list[str]) -> None:
    """The client got every version of the topic, once, with the topic's content."""
    seen: dict[tuple[str, tuple[int, int]], int] = defaultdict(int)
    for frame in frames:
        game = game_of(frame)
        if game not in versions:
            continue
        version = (int(frame["epoch"]), int(frame["seq"]))
        seen[(game, version)] += 1
        record = versions[game].get(version)
        if record is None:
            failures.append(f"websocket: {game} {version} was never on the topic")
        elif content_hash({k: v for k, v in frame.items() if k not in FRAME_ONLY}) != content_hash(record):
            failures.append(f"websocket: {game} {version} carried other content than the topic")
    for game, chain in versions.items():
        for version in chain:
            if seen[(game, version)] != 1:
                failures.append(f"websocket: {game} {version} received {seen[(game, version)]} times")


async def until_settled(reader: Reader, client: Client, games: list[Game],
                        finals: dict[str, tuple[tuple[int, int], str]], failures: list[str]) -> None:
    """Until the topic and the client both have every game's final state, and the topic is quiet for 2 s."""
    def finished(records: list[dict[str, Any]]) -> set[str]:
        return {game_of(r) or "" for r in records
                if ((r["score"]["home"], r["score"]["away"]), r["status"]) == finals.get(game_of(r) or "")}
    wanted = {g.id for g in games}
    quiet_since, count = time.monotonic(), 0
    deadline = time.monotonic() + 60 * TIME_UNIT
    while not (wanted <= finished(reader.records) and wanted <= finished(client.frames)
               and time.monotonic() - quiet_since > 2):
        if time.monotonic() > deadline:
            failures.append(f"final states missing on the topic: {sorted(wanted - finished(reader.records))}, "
                            f"at the client: {sorted(wanted - finished(client.frames))}")
            return
        await reader.poll()
        if len(reader.records) != count:
            quiet_since, count = time.monotonic(), len(reader.records)

@pytest.mark.timeout(240)
async def test_versions_survive_kill_rebalance_expiry_and_overlapping_replays(stack):
    run = uuid.uuid4().hex[:8]
    seed = int(run, 16)
    rng = random.Random(seed)  # a test world: the seed is printed on failure, to replay it
    games = [Game(run, n, rng) for n in range(GAMES)]
    silent = 0  # this game goes quiet for longer than the TTL in the middle of the run
    app_id = f"faults-{run}"
    failures: list[str] = []
    stops: list[tuple[float, int | None]] = []
    exits: list[int] = []  # exit codes of the first worker stopping by itself (then started again)
    stopping: set[Worker] = set()
    async with OwnKafka(stack) as own:
        settings = own.settings
        await ensure_topics(settings)
        env = {**own.env, "SPORTSFLOW_PROCESSING__DEDUPE_TTL_S": str(TTL_S),
               "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "earliest"}
        logs = ROOT / ".stack" / "logs"
        first = Worker(app_id, logs, {**env, "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port())})
        second = Worker(app_id, logs, {**env, "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port())})
        second.log_path = logs / f"{app_id}-second.log"
        await asyncio.to_thread(first.start)
        supervisor = asyncio.create_task(supervise(first, exits, stopping))
        ws_settings = BroadcasterSettings(port=free_port())
        hub, stop_feed, fed = Hub(), asyncio.Event(), asyncio.Event()
        feed = [asyncio.create_task(feed_hub(settings, hub, stop_feed, replay_s=0, ready=fed)),
                asyncio.create_task(Broadcaster(ws_settings, hub).serve(stop_feed))]
        await asyncio.wait_for(fed.wait(), 30 * TIME_UNIT)
        client, subscribed = Client(), asyncio.Event()
        url = f"ws://127.0.0.1:{ws_settings.port}/ws?token={issue_token(ws_settings, 'audit')}"
        listening = asyncio.create_task(client.run(url, subscribed))
        await asyncio.wait_for(subscribed.wait(), 10 * TIME_UNIT)
        sink_conf = sink_settings(settings, run)
        reader = Reader(settings, topics.EVENTS)
        await reader.start()
        ddb = boto_client(sink_conf, "dynamodb")
        try:
            async with running(lambda stop, ready: run_dynamodb_sink(sink_conf, stop, ready=ready,
                                                                     auto_offset_reset="earliest")), \
                    KafkaPublisher(client_options(settings)) as publisher:
                marks = [datetime.now(UTC)]
                for step in range(3):
                    await publish_round(publisher, games, step, rng)
                    await asyncio.sleep(0.3)
                await publish_round(publisher, games, 3, rng)
                await asyncio.to_thread(first.kill)  # in the middle of a burst: some of it is processed twice
                first.start(wait_ready=False)
                marks.append(datetime.now(UTC))
                quiet_since = time.monotonic()
                await publish_round(publisher, games, 4, rng, skip=frozenset({silent}))
                second.start(wait_ready=False)  # joins: a rebalance while the rounds go on
                for step in (5, 6):
                    await publish_round(publisher, games, step, rng, skip=frozenset({silent}))
                    await asyncio.sleep(0.5)
                await asyncio.to_thread(second.wait_ready)
                marks.append(datetime.now(UTC))
                for step in (7, 8):  # both workers process, and write their tables' changelogs
                    await publish_round(publisher, games, step, rng, skip=frozenset({silent}))
                    await asyncio.sleep(1.0)
                # It leaves in the middle (SIGTERM): its partitions go back to the first worker, which
                # restores their tables from the changelogs (written by the second) while rounds go on.
                stopping.add(second)
                stops.append(await asyncio.to_thread(timed_stop, second))
                await publish_round(publisher, games, 9, rng, skip=frozenset({silent}))
                # The broker restarts (SIGTERM, start again) while the first worker works.
                broker_down_s = await asyncio.to_thread(restart_broker, settings)
                # The silent game's state is older than the TTL now: its next update starts a new lineage.
                await asyncio.sleep(max(0.0, TTL_S + 1.5 - (time.monotonic() - quiet_since)))
                await publish_round(publisher, games, 10, rng)
                await wait_committed(settings, topics.normalize_group(app_id), topics.raw_topic("theoddsapi"))
                await wait_committed(settings, app_id, topics.resolve_topic(app_id))
                marks.append(datetime.now(UTC))
                # Two replays whose ranges overlap, at once, over what the worker has processed: nothing new.
                keys = [g.id for g in games]
                replayed = await asyncio.gather(replay(settings, marks[0], marks[2], keys),
                                                replay(settings, marks[1], marks[3], keys))
                await publish_round(publisher, games, ROUNDS + 1, rng)  # every game's final score
                finals = {g.id: g.served[-1] for g in games}
                await until_settled(reader, client, games, finals, failures)
                # A worker that lived through a broker restart still stops on SIGTERM, promptly.
                stopping.add(first)
                stops.append(await asyncio.to_thread(timed_stop, first))
                await asyncio.sleep(2)  # let the sink write what it read
                versions = topic_versions(reader.records, games, failures)
                await asyncio.to_thread(audit_dynamodb, ddb, sink_conf.aws.dynamodb_table, versions, failures)
        finally:
            supervisor.cancel()
            stopping.update((first, second))
            listening.cancel()
            stop_feed.set()
            await asyncio.gather(*feed, listening, supervisor, return_exceptions=True)
            await reader.consumer.stop()
            first.stop()
            second.stop()
    audit_frames(client.frames, versions, failures)
    for game in games:
        chain = versions.get(game.id, {})
        last = newest(chain) if chain else None
        state = (last["score"]["home"], last["score"]["away"]) if last else None
        if last is None or (state, last["status"]) != game.served[-1]:
            failures.append(f"{game.id}: newest version {state} {last and last['status']}, served {game.served[-1]}")
    if replayed != [{}, {}]:
        failures.append(f"replays of processed ranges published {replayed} records")
    for game in games:  # a game never silent for the TTL keeps one lineage (else a state was lost)
        longest = max(b - a for a, b in itertools.pairwise(game.sent_at))
        lineages = sorted({epoch for epoch, _seq in versions.get(game.id, {})})
        if longest < TTL_S - 1 and len(lineages) != 1:  # (a second of slack: receipt times are not ours)
            failures.append(f"{game.id}: {len(lineages)} lineages {lineages}, never silent for the TTL")
    epochs_of_silent = {epoch for epoch, _seq in versions.get(games[silent].id, {})}
    if len(epochs_of_silent) < 2:
        chain = sorted((v, r["score"]["home"], r["score"]["away"]) for v, r in versions[games[silent].id].items())
        failures.append(f"the silent game should have started a new lineage: {chain}")
    for took, code in stops:
        if code is None or code < 0 or took > STOP_S:
            failures.append(f"a worker took {took:.1f}s to stop on SIGTERM (exit {code}; killed if > {STOP_S}s)")
    assert (first.starts, second.starts) == (2 + len(exits), 1), (first.starts, second.starts, exits)
    print(f"broker down {broker_down_s:.1f}s, stops {stops}, the first worker exited by itself {exits}")
    if failures:  # each game's chain on the topic, to read the failure without rerunning it
        for game in games:
            chain = versions.get(game.id, {})
            failures.append(f"{game.id}: " + " ".join(
                f"{e}#{q}={r['score']['home']}-{r['score']['away']}{'c' if r.get('correction') else ''}"
                for (e, q), r in sorted(chain.items())))
    assert not failures, f"world seed {seed}:\n" + "\n".join(failures[-60:])
