"""Raw records carry the broker's append time, so the live worker and a replay see one order.

A connector stamps nothing itself: with producer times (CreateTime), a record still in flight could be
appended after another provider's newer record of the same game had been processed, and a replay,
which merges the raw topics by record time, then put the two the other way round and published a
version the live stream never had (the large accuracy runs' replays re-published 2 to 163 records
that way). Here the in-flight record is made on purpose: API-Sports' score, received five seconds
before The Odds API's, reaches Kafka after the worker published The Odds API's. Replaying both must
publish nothing. Also: a raw topic made by an earlier version is switched to append time, keeping its
own settings.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from rich.console import Console

from agents.fetch_clock import FetchClock
from connectors.publisher import record_headers
from connectors.simulator.world import made_up_name
from pipeline.provision import ensure_topics
from pipeline.replay.run import Request, run_replay
from pipeline.replay.select import build_selection
from runtime.kafka import client_options
from runtime.settings import Settings
from schemas import headers as h
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.providers import providers
from schemas.timeutil import iso_z
from tests.conftest import collect
from tests.integration.test_raw_backlog_order import api_sports, odds_api
from tests.integration.test_versions_under_faults import wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
APPEND_TIME = 1  # ConsumerRecord.timestamp_type


async def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        response = (await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]))[0]
        entries = response.to_object()["resources"][0]["config_entries"]
        return {e["config_names"]: e["config_value"] for e in entries}
    finally:
        await admin.close()


async def send(settings: Settings, envelope: RawEnvelope, timestamp_ms: int) -> None:
    """As a connector's producer would, with its own clock's time: `timestamp_ms`."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.raw_topic(envelope.provider), envelope.to_json(),
                                     key=envelope.key.encode(), headers=record_headers(envelope),
                                     timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


async def test_a_raw_topic_made_before_is_switched_to_append_time(stack: Settings, unique: str) -> None:
    topic = f"{topics.RAW_PREFIX}older{unique}"
    admin = AIOKafkaAdminClient(**client_options(stack))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "123456789",
                                                                         "message.timestamp.type": "CreateTime"})])
    finally:
        await admin.close()
    await ensure_topics(stack, [topic])  # as `stack up` and every `sportsflow connect` do
    configs = await topic_configs(stack, topic)
    assert configs["message.timestamp.type"] == "LogAppendTime"
    assert configs["retention.ms"] == "123456789", "the topic's own settings are kept"

    producer = AIOKafkaProducer(**client_options(stack), acks="all")
    await producer.start()
    try:
        day_ago = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
        sent = await producer.send_and_wait(topic, b"x", timestamp_ms=day_ago)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**client_options(stack), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, sent.partition)
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        record = (await consumer.getmany(tp, timeout_ms=10_000))[tp][0]
    finally:
        await consumer.stop()
    assert record.timestamp_type == APPEND_TIME
    assert abs(record.timestamp - h.now_ms()) < 60_000, "the broker's time, not the producer's"


async def test_a_raw_record_appended_late_is_replayed_in_the_order_the_worker_saw_it(
        stack: Settings, worker: str, consumer_factory) -> None:
    run = uuid.uuid4().hex[:8]
    home, away = made_up_name(f"{run}|home"), made_up_name(f"{run}|away")
    now = datetime.now(UTC)
    kickoff = now.replace(microsecond=0) - timedelta(minutes=40)
    first = odds_api(run, "game", home, away, 1, kickoff, now).model_copy(update={"key": f"{run}-o"})
    in_flight = api_sports(run, home, away, 2, kickoff, now - timedelta(seconds=5)).model_copy(
        update={"key": f"{run}-a"})
    events = await consumer_factory(topics.EVENTS)

    await send(stack, first, first.received_at_ms)
    await collect(events, lambda m: dict(m.headers).get(h.APP) == worker.encode()
                  and orjson.loads(m.value)["refs"].get("theoddsapi") == f"{run}-game", timeout=60)
    # Sent five seconds before the record above (so stamped with that time by its producer), appended now.
    await send(stack, in_flight, in_flight.received_at_ms)
    await wait_committed(stack, topics.normalize_group(worker), topics.raw_topic("apisports"))
    await wait_committed(stack, worker, topics.resolve_topic(worker))

    selection = build_selection(topic_names=[topics.raw_topic("theoddsapi"), topics.raw_topic("apisports")],
                                start=iso_z(now - timedelta(minutes=1)), end=iso_z(datetime.now(UTC)
                                                                                   + timedelta(minutes=1)),
                                keys=[first.key, in_flight.key], known_providers=providers())
    request = Request(selection, "kafka", output=None, resume=None, progress=False)
    report = await run_replay(stack, request, asyncio.Event(), Console(file=io.StringIO()))
    assert report.read == 2
    published = {topic: n for topic, n in report.published.items() if n}
    assert published == {}, [e.decode() for e in report.published_examples]


async def test_a_fetch_vouches_from_when_it_was_asked_with_the_highwater_it_gave(stack: Settings, unique: str) -> None:
    """Stage 1's clock on a real consumer and broker: an empty long poll vouches from when it was sent
    (aiokafka's own timestamp says when it came back, 500 ms later), a fetch that brought a record from
    no earlier than that record's append time, each with the highwater of the same response."""
    topic = f"{topics.RAW_PREFIX}clock{unique}"
    await ensure_topics(stack, [topic], partitions=1)
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(**client_options(stack), group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=500)
    producer = AIOKafkaProducer(**client_options(stack), acks="all")
    await consumer.start()
    await producer.start()
    try:
        clock = FetchClock()
        clock.install(consumer)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        assert await consumer.getmany(tp, timeout_ms=1500) == {}  # the broker held each fetch 500 ms
        seen = clock.vouched[tp]
        assert seen.highwater == consumer.highwater(tp) == 0
        assert consumer.last_poll_timestamp(tp) - seen.at_ms >= 400, "when the fetch was asked, not answered"

        await producer.send_and_wait(topic, b"x")
        [record] = (await consumer.getmany(tp, timeout_ms=10_000))[tp]
        seen = clock.vouched[tp]
        assert seen.highwater == 1
        assert record.timestamp <= seen.at_ms <= h.now_ms()
    finally:
        await producer.stop()
        await consumer.stop()
