"""A worker that starts with records waiting in its resolve topic processes every one of them; records there
that no stage 1 wrote are dead-lettered.

That is the moment Faust's recovery hands a worker its partitions after a restart or a rebalance:
faust-streaming resumed them while it sought them to their committed offsets, and the records
fetched meanwhile were cleared from the stream queues, so the first record of a partition was
never processed and the commit then passed it (agents/recovery.py). Here the backlog is made on
purpose: with the worker stopped, one round of scores for games on every resolve partition is
written straight to the resolve topic (packed as stage 1 packs them), then the worker is started;
five times. Every round of every game must come out on canonical.events, read by a consumer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents import packing
from agents.publish import Partitions
from agents.stages.normalize import process_raw
from benchmarks._procs import ROOT, Worker
from benchmarks._stack import OwnKafka
from benchmarks.accuracy import team_name
from connectors.publisher import record_headers
from pipeline.provision import ensure_topics
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import headers as h
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.timeutil import iso_z
from tests.conftest import TIME_UNIT, free_port

pytestmark = pytest.mark.integration

PER_PARTITION = 3  # games on each resolve partition
ROUNDS = 5


def envelope(run: str, n: int, goals: int, start: datetime) -> RawEnvelope:
    seed = int(run, 16) % 100_000
    home, away = team_name(seed, n, "home"), team_name(seed, n, "away")
    payload = [{"id": f"bk-{run}-{n}", "sport_key": "soccer_epl", "sport_title": "EPL",
                "commence_time": iso_z(start), "completed": False, "home_team": home, "away_team": away,
                "last_update": iso_z(start + timedelta(minutes=30, seconds=goals)),
                "scores": [{"name": home, "score": str(goals)}, {"name": away, "score": "0"}]}]
    return RawEnvelope(provider="theoddsapi", feed="scores", key=f"bk-{run}-{n}", payload=payload)


def by_partition(envelopes: list[RawEnvelope], count: int) -> dict[int, list[packing.Candidate]]:
    """The envelopes' candidates (stage 1's pure step) by the resolve partition stage 1 sends them to."""
    found: dict[int, list[packing.Candidate]] = defaultdict(list)
    for offset, e in enumerate(envelopes):
        done = process_raw(topics.raw_topic(e.provider), 0, offset, e.to_json(), record_headers(e))
        assert done.dead_letter is None, done.dead_letter
        for out in done.records:
            found[Partitions().of(out.key, count)].append(packing.Candidate(out.key, out.value, out.headers))
    return found


def pick_games(run: str, start: datetime, count: int) -> list[int]:
    """Game numbers with PER_PARTITION games on every resolve partition."""
    taken: dict[int, list[int]] = defaultdict(list)
    for n in range(1000):
        (partition,) = by_partition([envelope(run, n, 0, start)], count)
        if len(taken[partition]) < PER_PARTITION:
            taken[partition].append(n)
        if sum(map(len, taken.values())) == PER_PARTITION * count:
            return sorted(n for ns in taken.values() for n in ns)
    raise AssertionError("no spread of games over the resolve partitions")


async def write_backlog(settings: Settings, app_id: str, envelopes: list[RawEnvelope]) -> set[int]:
    """Normalize and pack the envelopes as stage 1 does, and write them to the resolve topic."""
    resolve = topics.resolve_topic(app_id)
    packed = by_partition(envelopes, settings.kafka.topic_partitions)
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        for partition, candidates in packed.items():
            for value in packing.pack(candidates):
                await producer.send_and_wait(resolve, value, partition=partition,
                                             headers=[(h.APP, app_id.encode())])
    finally:
        await producer.stop()
    return set(packed)


async def scores_out(consumer: AIOKafkaConsumer, run: str, games: list[int], found: dict[str, set[int]],
                     want: int, timeout_s: float) -> None:
    """Read canonical.events until every game shows `want` home goals (or the time is up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s * TIME_UNIT
    while loop.time() < deadline and not all(want in found[f"bk-{run}-{n}"] for n in games):
        for messages in (await consumer.getmany(timeout_ms=200)).values():
            for m in messages:
                record: dict[str, Any] = orjson.loads(m.value)
                game = (record.get("refs") or {}).get("theoddsapi", "")
                if game.startswith(f"bk-{run}-"):
                    found[game].add(int(record["score"]["home"]))


@pytest.mark.timeout(180)
async def test_a_worker_started_with_a_resolve_backlog_processes_all_of_it(stack: Settings) -> None:
    run = uuid.uuid4().hex[:8]
    app_id = f"backlog-{run}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    games = pick_games(run, start, stack.kafka.topic_partitions)
    found: dict[str, set[int]] = defaultdict(set)
    missing: list[str] = []
    async with OwnKafka(stack) as own:  # no other traffic: the backlog is all the worker has to read
        settings = own.settings
        await ensure_topics(settings)
        worker = Worker(app_id, ROOT / ".stack" / "logs", own.env)
        consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = [TopicPartition(topics.EVENTS, p) for p in sorted(await partitions_of(consumer, topics.EVENTS))]
            consumer.assign(parts)
            await asyncio.to_thread(worker.start)  # creates the resolve topic and the tables' changelogs
            worker.stop()
            for goals in range(ROUNDS):
                written = await write_backlog(settings, app_id, [envelope(run, n, goals, start) for n in games])
                assert written == set(range(settings.kafka.topic_partitions))  # a backlog on every partition
                await asyncio.to_thread(worker.start)
                await scores_out(consumer, run, games, found, goals, timeout_s=30)
                worker.stop()  # SIGTERM: a clean stop, with a last commit
                missing += [f"bk-{run}-{n} round {goals}" for n in games if goals not in found[f"bk-{run}-{n}"]]
        finally:
            worker.stop()
            await consumer.stop()
    assert not missing, f"never published (worker log {worker.log_path}): {missing}"


MALFORMED = [b"[1]\n", b'[["r",[["k",1]],0]]\n', b'[["r",[],"3"]]\nabc', b'[[1,[],0]]\n', b'"r"\n']


@pytest.mark.timeout(180)
async def test_malformed_resolve_records_are_dead_lettered_and_the_worker_goes_on(stack: Settings) -> None:
    """Records on the resolve topic that no stage 1 wrote (wrong shapes and types in the index) become dead
    letters naming the record, and the game written after them on the same partition is still published by
    the same process. Each one used to escape the agent as a TypeError or AttributeError."""
    run = uuid.uuid4().hex[:8]
    app_id = f"badresolve-{run}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    count = stack.kafka.topic_partitions
    (partition, candidates), = by_partition([envelope(run, 0, 2, start)], count).items()
    worker = Worker(app_id, ROOT / ".stack" / "logs", {"SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port()),
                                                       "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"})
    consumer = AIOKafkaConsumer(**client_options(stack), group_id=None, enable_auto_commit=False)
    await consumer.start()
    producer = AIOKafkaProducer(**client_options(stack), acks="all")
    await producer.start()
    try:
        parts = [TopicPartition(t, p) for t in (topics.EVENTS, topics.DEADLETTER)
                 for p in sorted(await partitions_of(consumer, t))]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)
        await asyncio.to_thread(worker.start)
        resolve = topics.resolve_topic(app_id)
        bad = [await producer.send_and_wait(resolve, value, partition=partition, headers=[(h.APP, app_id.encode())])
               for value in MALFORMED]
        for value in packing.pack(candidates):
            await producer.send_and_wait(resolve, value, partition=partition, headers=[(h.APP, app_id.encode())])
        want = {f"{resolve}:{partition}:{sent.offset}" for sent in bad}
        letters: dict[str, dict[str, Any]] = {}
        published = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60 * TIME_UNIT
        while loop.time() < deadline and not (published and want <= set(letters)):
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                for m in messages:
                    if m.topic == topics.DEADLETTER and (m.key or b"").decode() in want:
                        letters[m.key.decode()] = orjson.loads(m.value)
                    elif m.topic == topics.EVENTS and f"bk-{run}-0".encode() in m.value:
                        published = True
        alive = worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
        await producer.stop()
        await consumer.stop()
    assert want <= set(letters), f"dead letters missing for {sorted(want - set(letters))} (log {worker.log_path})"
    assert all("packed resolve record" in letter["error"] for letter in letters.values()), letters
    assert published, f"the good record after them was not published (log {worker.log_path})"
    assert alive, f"the worker stopped (log {worker.log_path})"


@pytest.mark.timeout(180)
async def test_an_event_update_writes_one_entity_state(stack: Settings) -> None:
    """An event's discrepancy state lives in its entity state: two rounds of one game leave the event's key
    on the entities changelog, and nothing under `disc|<event id>` as before."""
    run = uuid.uuid4().hex[:8]
    app_id = f"onestate-{run}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    worker = Worker(app_id, ROOT / ".stack" / "logs", {"SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port()),
                                                       "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"})
    changelog = f"{app_id}-entities-changelog"
    scores: set[int] = set()
    ids: set[bytes] = set()
    keys: set[bytes] = set()
    consumer = AIOKafkaConsumer(**client_options(stack), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.EVENTS, p) for p in sorted(await partitions_of(consumer, topics.EVENTS))]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)
        await asyncio.to_thread(worker.start)  # creates the changelog
        loop = asyncio.get_running_loop()
        for goals in (0, 1):
            await write_backlog(stack, app_id, [envelope(run, 0, goals, start)])
            deadline = loop.time() + 30 * TIME_UNIT
            while goals not in scores and loop.time() < deadline:
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    for m in messages:
                        if f"bk-{run}-0".encode() in m.value:
                            ids.add(m.key)
                            scores.add(int(orjson.loads(m.value)["score"]["home"]))
        await asyncio.sleep(2)  # the batch's changelog write follows its outputs
        logged = [TopicPartition(changelog, p) for p in sorted(await partitions_of(consumer, changelog))]
        consumer.assign(logged)
        await consumer.seek_to_beginning(*logged)
        for messages in (await consumer.getmany(timeout_ms=3000)).values():
            keys.update(m.key for m in messages if m.key is not None)
    finally:
        worker.stop()
        await consumer.stop()
    assert scores == {0, 1}, f"not published (log {worker.log_path})"
    (event_id,) = ids
    assert event_id in keys, f"no state for {event_id!r} on {changelog}"
    assert b"disc|" + event_id not in keys, "the discrepancy state was written under its own key"
