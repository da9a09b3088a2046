"""A worker catching up a raw backlog processes the providers' records in the order they came.

The SIGKILL losses of the large accuracy runs, made on purpose and small: with no worker running, two
providers report one game's score in turns (The Odds API the even goal counts, API-Sports the odd
ones, ten seconds apart), while The Odds API also reports many other games at every step, so its raw
partition holds thousands of records and API-Sports' a few dozen. Then the worker starts. Read one
partition at a time (a fetch returns the small partition whole), the game would be versioned in
API-Sports' steps and The Odds API's states between them would come out "behind": never published.
Every score must come out on canonical.events, in order, read by a consumer.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks._procs import ROOT, Worker
from benchmarks._stack import OwnKafka
from connectors.publisher import record_headers
from connectors.simulator.world import made_up_name
from pipeline.provision import ensure_topics
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.timeutil import iso_z
from tests.conftest import TIME_UNIT, fixture_path

pytestmark = pytest.mark.integration

STEPS = 60  # the game's score goes 0, 1, 2 ... STEPS - 1, one step every 10 s
FILLER = 80  # other games The Odds API reports at every step


def odds_api(run: str, game: str, home: str, away: str, goals: int, start: datetime, at: datetime) -> RawEnvelope:
    payload = [{"id": f"{run}-{game}", "sport_key": "soccer_epl", "sport_title": "EPL",
                "commence_time": iso_z(start), "completed": False, "home_team": home, "away_team": away,
                "last_update": iso_z(at),
                "scores": [{"name": home, "score": str(goals)}, {"name": away, "score": "0"}]}]
    return RawEnvelope(provider="theoddsapi", feed="scores", key="all", payload=payload, received_at=at)


def api_sports(run: str, home: str, away: str, goals: int, start: datetime, at: datetime) -> RawEnvelope:
    page = json.loads(fixture_path("apisports", "football_fixtures_live_all_2024-02-28.json").read_text())
    item = copy.deepcopy(page["response"][0])
    fid = int(run, 16) % 10_000_000
    item["fixture"] |= {"id": fid, "date": iso_z(start).replace("Z", "+00:00"), "timestamp": int(start.timestamp())}
    item["league"]["name"] = "Premier League"
    item["teams"]["home"] |= {"id": fid * 10, "name": home}
    item["teams"]["away"] |= {"id": fid * 10 + 1, "name": away}
    item["goals"] = {"home": goals, "away": 0}
    page["response"] = [item]
    return RawEnvelope(provider="apisports", feed="football-fixtures", key="live", params={"live": "all"},
                       payload=page, received_at=at)


def backlog(run: str, start: datetime, first: datetime) -> list[RawEnvelope]:
    """The game's states in turns, and The Odds API's other games, in the order they were received."""
    home, away = made_up_name(f"{run}|home"), made_up_name(f"{run}|away")
    out: list[RawEnvelope] = []
    for step in range(STEPS):
        at = first + timedelta(seconds=10 * step)
        for n in range(FILLER):
            filler = made_up_name(f"{run}|filler|{n}")
            out.append(odds_api(run, f"f{n}", filler, f"{filler} Rovers", step, start, at))
        if step % 2 == 0:
            out.append(odds_api(run, "game", home, away, step, start, at + timedelta(milliseconds=5)))
        else:
            out.append(api_sports(run, home, away, step, start, at + timedelta(milliseconds=5)))
    return out


async def publish(settings: Settings, envelopes: list[RawEnvelope]) -> None:
    """As the connectors would have over those ten minutes, compressed: one step after the other.

    Raw records carry the broker's append time (pipeline/provision.py), so a backlog's order is the order
    it reached Kafka: each step is appended, and acknowledged, before the next one is sent.
    """
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=20)
    await producer.start()
    try:
        step: list[asyncio.Future[Any]] = []
        last_ms = None
        for e in envelopes:
            if last_ms is not None and e.received_at_ms - last_ms > 1000 and step:
                await asyncio.gather(*step)
                step = []
                await asyncio.sleep(0.005)  # the next step's append time is a later millisecond
            last_ms = e.received_at_ms
            step.append(await producer.send(topics.raw_topic(e.provider), e.to_json(), key=e.key.encode(),
                                            headers=record_headers(e)))
        await asyncio.gather(*step)
    finally:
        await producer.stop()


async def game_scores(consumer: AIOKafkaConsumer, run: str, timeout_s: float) -> list[int]:
    """The game's published home scores, in topic order, until the last one arrives (or the time is up)."""
    scores: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s * TIME_UNIT
    while loop.time() < deadline and (not scores or scores[-1] != STEPS - 1):
        for messages in (await consumer.getmany(timeout_ms=200)).values():
            for m in messages:
                record: dict[str, Any] = orjson.loads(m.value)
                home = record["score"]["home"]
                if (record.get("refs") or {}).get("theoddsapi") == f"{run}-game" and home is not None:
                    scores.append(int(home))
    return scores


@pytest.mark.timeout(240)
async def test_a_raw_backlog_of_two_providers_is_processed_in_the_order_it_came(stack: Settings) -> None:
    run = uuid.uuid4().hex[:8]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    envelopes = backlog(run, start, first=datetime.now(UTC) - timedelta(seconds=10 * STEPS + 30))
    async with OwnKafka(stack) as own:  # no other traffic: the backlog is all the worker reads
        settings = own.settings
        await ensure_topics(settings)
        await publish(settings, envelopes)
        consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        worker = Worker(f"rawbacklog-{run}", ROOT / ".stack" / "logs", own.env)
        try:
            consumer.assign([TopicPartition(topics.EVENTS, p)
                             for p in sorted(await partitions_of(consumer, topics.EVENTS))])
            await asyncio.to_thread(worker.start)
            scores = await game_scores(consumer, run, timeout_s=90)
        finally:
            worker.stop()
            await consumer.stop()
    missing = sorted(set(range(STEPS)) - set(scores))
    assert not missing, f"never published: {missing} (published {scores}; worker log {worker.log_path})"
    assert scores == sorted(scores), scores
