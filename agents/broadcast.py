"""Canonical topics -> the WebSocket hub.

Every broadcaster process must see every update, so this consumer joins no group: it assigns
itself all partitions of the canonical topics. At start it reads back `replay_s` seconds of
history to rebuild the hub's snapshot state, then follows the tail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pipeline import topics
from pipeline.kafka_clients import client_options
from pipeline.settings import Settings
from pipeline.web.hub import Hub, make_item

log = logging.getLogger(__name__)


async def _assign_all(consumer: Any, names: tuple[str, ...]) -> list[Any]:
    from aiokafka import TopicPartition

    partitions: list[Any] = []
    for name in names:
        ids = consumer.partitions_for_topic(name)
        if ids is None:
            await consumer._client.force_metadata_update()
            ids = consumer.partitions_for_topic(name) or set()
        partitions.extend(TopicPartition(name, p) for p in sorted(ids))
    consumer.assign(partitions)
    return partitions


async def _seek_to_recent(consumer: Any, partitions: list[Any], replay_s: float) -> None:
    if replay_s <= 0:
        await consumer.seek_to_end(*partitions)
        return
    since_ms = int((time.time() - replay_s) * 1000)
    offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
    ends = await consumer.end_offsets(partitions)
    for tp in partitions:
        found = offsets.get(tp)
        consumer.seek(tp, found.offset if found is not None else ends[tp])


async def feed_hub(
    settings: Settings, hub: Hub, stop: asyncio.Event, *, replay_s: float = 6 * 3600.0,
    ready: asyncio.Event | None = None,
) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=50, max_poll_records=2000,
    )
    await consumer.start()
    try:
        partitions = await _assign_all(consumer, topics.CANONICAL_TOPICS)
        await _seek_to_recent(consumer, partitions, replay_s)
        if ready is not None:
            ready.set()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                for message in messages:
                    try:
                        hub.publish(make_item(tp.topic, message.key, message.value))
                    except Exception:
                        log.exception("cannot broadcast %s@%s", tp, message.offset)
    finally:
        await consumer.stop()
