"""Entity state expiry survives a worker SIGKILL: observed on the worker's changelog and canonical topics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from benchmarks._procs import ROOT, Worker
from connectors.publisher import KafkaPublisher
from runtime.kafka import client_options
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.timeutil import iso_z
from tests.conftest import free_port

pytestmark = pytest.mark.integration
TTL_S = 6


def scores(game: str, home: str, away: str, start: datetime, score: tuple[int, int]) -> RawEnvelope:
    payload = [{"id": game, "sport_key": "basketball_nba", "sport_title": "NBA", "commence_time": iso_z(start),
                "completed": False, "home_team": home, "away_team": away, "last_update": iso_z(datetime.now(UTC)),
                "scores": [{"name": home, "score": str(score[0])}, {"name": away, "score": str(score[1])}]}]
    return RawEnvelope(provider="theoddsapi", feed="scores", key=game, payload=payload)


def ours(message, app_id: str) -> bool:
    """This test's worker wrote it: the session's worker sees the same raw records and gives the same ids."""
    return message.topic.endswith("-changelog") or dict(message.headers or []).get("sf-app") == app_id.encode()


async def read_until(consumer: AIOKafkaConsumer, done, timeout: float = 60.0) -> list:
    seen: list = []
    async with asyncio.timeout(timeout):
        while not done(seen):
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(messages)
    return seen


async def from_now_on(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Read `topic` from its end: on a long-lived stack canonical.events holds every earlier run, and
    reading it all from the start took longer than the test's waits. (The changelog is this worker's own.)"""
    async with asyncio.timeout(30):
        while not (partitions := [tp for tp in consumer.assignment() if tp.topic == topic]):
            await asyncio.sleep(0.1)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)  # resolved now, before anything is published


@pytest.mark.timeout(240)
async def test_a_state_restored_after_sigkill_still_expires(stack):
    """The same teams twice in a day (one route, so one partition): game A's state is written, the worker
    is killed and restarted (its tables restored from the changelogs, the in-memory expiry index empty),
    then after the TTL game B's update is processed on that partition: A's state is deleted (a tombstone
    on the entities changelog) and A's next update starts a new lineage (another epoch, seq 1)."""
    run = uuid.uuid4().hex[:8]
    app_id = f"sportsflow-expiry-{run}"
    worker = Worker(app_id, ROOT / ".stack" / "logs", {
        "SPORTSFLOW_PROCESSING__DEDUPE_TTL_S": str(TTL_S), "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest",
        "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port())})
    home, away = f"Home {run}", f"Away {run}"
    morning = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    consumer = AIOKafkaConsumer(topics.EVENTS, f"{app_id}-entities-changelog", **client_options(stack),
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    worker.start()
    try:
        await consumer.start()
        await from_now_on(consumer, topics.EVENTS)
        async with KafkaPublisher(client_options(stack)) as publisher:
            await publisher.publish([scores(f"a-{run}", home, away, morning, (1, 0))])
            first = await read_until(consumer, lambda seen: any(
                m.topic == topics.EVENTS and ours(m, app_id) and f"a-{run}".encode() in m.value for m in seen))
            entity = next(m.key for m in first
                          if m.topic == topics.EVENTS and ours(m, app_id) and f"a-{run}".encode() in m.value)
            version = orjson.loads(next(m.value for m in first
                                        if m.topic == topics.EVENTS and ours(m, app_id) and m.key == entity))
            await asyncio.sleep(2)  # the batch's changelog write follows its outputs
            await asyncio.to_thread(worker.kill)
            await asyncio.to_thread(worker.start)
            await asyncio.sleep(TTL_S + 1)
            await publisher.publish([scores(f"b-{run}", home, away, morning + timedelta(hours=5), (0, 0))])
            await read_until(consumer, lambda seen: any(
                m.topic.endswith("-changelog") and m.key == entity and m.value is None for m in seen))
            await publisher.publish([scores(f"a-{run}", home, away, morning, (2, 0))])
            later = await read_until(consumer, lambda seen: any(
                m.topic == topics.EVENTS and ours(m, app_id) and m.key == entity for m in seen))
    finally:
        await consumer.stop()
        worker.stop()
    again = orjson.loads(next(m.value for m in later
                              if m.topic == topics.EVENTS and ours(m, app_id) and m.key == entity))
    assert (version["seq"], again["seq"]) == (1, 1)
    assert again["epoch"] > version["epoch"]
    assert again["score"] == {"home": 2, "away": 0}
