"""Helpers for the replay tests: a test provider with its own raw topic, a day of simulated traffic,
producing it with explicit Kafka timestamps, reading a topic back and running the CLI."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner, Result

from connectors.publisher import record_headers
from pipeline.cli import main
from schemas import providers as registry
from schemas.envelope import RawEnvelope
from schemas.timeutil import iso_z
from tests.conftest import fixture_path

ODDS_SAMPLE = "odds_basketball_nba_h2h_spreads_totals_american_2022-11-23.json"


def register_provider(monkeypatch, unique: str) -> str:
    """A provider `rp<unique>` whose feeds are The Odds API's real normalizers: its own raw topic,
    so the test's records are the only ones in the range and timestamps grow with offsets."""
    name = f"rp{unique}"
    for slug in ("scores", "odds"):
        real = registry.get_feed("theoddsapi", slug)
        monkeypatch.setitem(registry._FEEDS, (name, slug), replace(real, provider=name))
    return name


def game_id(unique: str, g: int) -> str:
    return f"{unique}-g{g}"


def teams(unique: str, g: int) -> tuple[str, str]:
    # "g1", not "1": entity resolution reads a short bare number as noise ("1. FC Koln" is "FC Koln"),
    # so "Home x 1" and "Home x 2" would be one team and their games one fixture.
    return f"Home {unique} g{g}", f"Away {unique} g{g}"


def scores_payload(unique: str, g: int, step: int, steps: int, start: datetime, at: datetime) -> list[dict]:
    home, away = teams(unique, g)
    return [{
        "id": game_id(unique, g), "sport_key": "basketball_nba", "sport_title": "NBA",
        "commence_time": iso_z(start), "completed": step >= steps - 2, "home_team": home, "away_team": away,
        # Home scores every second update, away every third: some updates change nothing.
        "scores": [{"name": home, "score": str(step // 2)}, {"name": away, "score": str(step // 3)}],
        "last_update": iso_z(at),
    }]


def odds_payload(unique: str, g: int, start: datetime) -> list[dict]:
    home, away = teams(unique, g)
    text = fixture_path("theoddsapi", ODDS_SAMPLE).read_text()
    text = text.replace("Philadelphia 76ers", home).replace("Brooklyn Nets", away)
    return [dict(json.loads(text)[0], id=game_id(unique, g), commence_time=iso_z(start))]


def traffic(provider: str, unique: str, day: datetime, *, count: int = 2000, games: int = 40,
            hours: float = 24, odds: bool = True) -> list[RawEnvelope]:
    """`count` raw records spread evenly over `hours` from `day`: scores updates, every tenth an odds snapshot."""
    steps = count // games
    out = []
    for i in range(count):
        at = day + timedelta(seconds=i * hours * 3600 / count)
        g, step = i % games, i // games
        start = day + timedelta(minutes=g)
        if odds and step % 10 == 9:
            out.append(RawEnvelope(provider=provider, feed="odds", key=game_id(unique, g), received_at=at,
                                   params={"oddsFormat": "american"}, payload=odds_payload(unique, g, start)))
        else:
            out.append(RawEnvelope(provider=provider, feed="scores", key=game_id(unique, g), received_at=at,
                                   payload=scores_payload(unique, g, step, steps, start, at)))
    return out


async def history_topic(settings, topic: str) -> None:
    """A raw topic for imported history: it keeps the producer's timestamps (CreateTime), so its records
    can be dated days back. Live raw topics are stamped with the broker's append time
    (pipeline/provision.py), so a day of them is only had by waiting a day."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, settings.kafka.topic_partitions, settings.kafka.topic_replication,
                                            topic_configs={"message.timestamp.type": "CreateTime"})])
    finally:
        await admin.close()


async def produce(settings, topic: str, envelopes: list[RawEnvelope]) -> None:
    """Publish with each envelope's receive time as the Kafka timestamp: kept by a `history_topic`, replaced
    by the broker's append time on a live raw topic."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_idempotence=True,
                                linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=e.to_json(), key=e.key.encode(), headers=record_headers(e),
                                       timestamp_ms=e.received_at_ms) for e in envelopes]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_all(settings, topic: str) -> list:
    """Every record of `topic` (it must exist), in partition then offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        end = await consumer.end_offsets(parts)
        todo = {tp: end[tp] for tp in parts if end[tp] > 0}
        out = []
        if todo:
            consumer.assign(list(todo))
            await consumer.seek_to_beginning(*todo)
            while todo:
                batches = await consumer.getmany(*todo, timeout_ms=1000)
                for messages in batches.values():
                    out.extend(messages)
                for tp in list(todo):
                    if await consumer.position(tp) >= todo[tp]:
                        del todo[tp]
        return sorted(out, key=lambda m: (m.partition, m.offset))
    finally:
        await consumer.stop()


def values(records: list) -> list[dict]:
    return [orjson.loads(m.value) for m in records]


def invoke_sync(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, catch_exceptions=False)


async def invoke(args: list[str]) -> Result:
    """Run `sportsflow ARGS` in-process (so test-registered normalizers apply), in a thread of its own loop."""
    return await asyncio.to_thread(invoke_sync, args)
