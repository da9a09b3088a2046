"""The accuracy harness's Kafka side: reading the canonical topics back, malformed raw records, and waiting for
the worker's consumer groups to commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import RawEnvelope


class Reader:
    """One groupless consumer: notes where the canonical topics end now, later reads what came after."""

    def __init__(self, settings: Settings, names: tuple[str, ...]) -> None:
        self.consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                         max_poll_records=5000)
        self.names = names
        self.start: dict[TopicPartition, int] = {}

    async def mark(self) -> None:
        await self.consumer.start()
        parts = [TopicPartition(t, p) for t in self.names for p in sorted(await partitions_of(self.consumer, t))]
        self.consumer.assign(parts)
        self.start = dict(await self.consumer.end_offsets(parts))
        for tp, offset in self.start.items():
            self.consumer.seek(tp, offset)  # fetching starts here and buffers while the run plays

    async def read(self, quiet_s: float, app_id: bytes, busy: Callable[[], bool] = lambda: False,
                   limit_s: float = 900.0) -> list[Any]:
        """Everything after the mark, until nothing new arrived from worker `app_id` for `quiet_s`
        (other sessions' traffic on a shared broker is no news about this run) while it was not `busy`
        (a worker starting again is not a quiet one); at most `limit_s` (a worker that never gets Ready)."""
        records: list[Any] = []
        last_new = begun = time.monotonic()
        try:
            while time.monotonic() - last_new < quiet_s and time.monotonic() - begun < limit_s:
                batches = await self.consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    records.extend(messages)
                    if any(dict(m.headers or []).get("sf-app") == app_id for m in messages):
                        last_new = time.monotonic()
                if busy():
                    last_new = time.monotonic()
        finally:
            await self.consumer.stop()
        return records


async def inject_malformed(settings: Settings, count: int) -> None:
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        topic = topics.raw_topic("theoddsapi")
        for i in range(count):
            if i % 2:
                value = f"not an envelope {i}".encode()
            else:
                value = RawEnvelope(provider="theoddsapi", feed="odds", key=f"bad-{i}",
                                    payload=[{"id": f"bad-{i}", "sport_key": "x"}]).to_json()
            await producer.send(topic, value=value, key=f"bad-{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def wait_committed(settings: Settings, group: str, targets: dict[TopicPartition, int],
                         timeout_s: float = 180.0) -> None:
    """Until the worker's consumer group has committed at least `targets` (it processed everything before)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            if all(tp in committed and committed[tp].offset >= end for tp, end in targets.items() if end > 0):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{group} did not catch up with {targets} in {timeout_s}s")
            await asyncio.sleep(1.0)
    finally:
        await admin.close()


def dump(path: str, records: list[Any]) -> None:
    """Every canonical record read back, as JSON lines (to look into a failed audit)."""
    with open(path, "wb") as out:
        for m in records:
            try:
                value: Any = orjson.loads(m.value) if m.value else None
            except orjson.JSONDecodeError:
                value = bytes(m.value).decode("utf-8", "replace")
            out.write(orjson.dumps({"topic": m.topic, "partition": m.partition, "offset": m.offset,
                                    "app": dict(m.headers or []).get("sf-app", b"").decode(), "value": value}) + b"\n")
