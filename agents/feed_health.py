"""What the worker knows about feed health: the latest `canonical.feed_status` per provider feed."""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics

log = logging.getLogger(__name__)


class FeedHealth:
    """`is_down("provider/feed")`: down if that feed (or any polled endpoint of it) reports down."""

    def __init__(self) -> None:
        self._down: dict[str, set[str]] = {}  # provider -> feed names currently down

    def update(self, provider: str, feed: str, status: str) -> None:
        down = self._down.setdefault(provider, set())
        if status == "down":
            down.add(feed)
        else:
            down.discard(feed)

    def is_down(self, source: str) -> bool:
        provider, _, slug = source.partition("/")
        down = self._down.get(provider)
        if not down:
            return False
        return any(f == slug or f.startswith(f"{slug}:") or f == "*" for f in down)


async def follow(settings: Settings, health: FeedHealth, stop: asyncio.Event | None = None) -> None:
    """Read canonical.feed_status from the beginning, then follow it (groupless: every worker reads all)."""

    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        ids = await partitions_of(consumer, topics.FEED_STATUS)
        consumer.assign([TopicPartition(topics.FEED_STATUS, p) for p in ids])
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    try:
                        record = orjson.loads(message.value)
                        health.update(record["provider"], record["feed"], record["status"])
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        log.warning("ignoring malformed feed_status at offset %s", message.offset)
    finally:
        await consumer.stop()
