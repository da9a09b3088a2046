"""Canonical topics -> the WebSocket hub.

Every broadcaster process must see every update, so this consumer joins no group: it assigns
itself all partitions of the canonical topics. At start it reads back `broadcaster.replay_s`
seconds of history to rebuild the hub's snapshot state and resume rings, then follows the tail.
Records are handed to the hub one Kafka batch at a time; the hub's clients are flushed after
each batch. A record that cannot be read is logged and skipped (the feed never stops for one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.kafka import client_options
from runtime.observability.hooks import observe_broadcast
from runtime.settings import Settings
from schemas import headers, topics
from sinks.websocket.hub import Hub
from sinks.websocket.protocol import make_item

log = logging.getLogger(__name__)


def channel_by_topic(prefix: str) -> dict[str, str]:
    """The topics this feed reads (`<prefix>canonical.*`) and their WebSocket channels."""
    return {prefix + topic: channel for topic, channel in topics.CHANNEL_BY_TOPIC.items()}


STAGE_HEADERS = {headers.PROVIDER_TS: "provider", headers.RECEIVED_TS: "received",
                 headers.PUBLISHED_TS: "published"}


def stages_of(record_headers: Any, read_ms: int, sent_ms: int | None = None) -> dict[str, int]:
    """The record's stage timestamps (epoch ms) for its frame, plus when this process read it and
    (`sent_ms`) when it fans the frame out: `hub.publish` writes to the sockets at once."""
    stages: dict[str, int] = {}
    for name, value in record_headers or ():
        stage = STAGE_HEADERS.get(name)
        if stage is not None and value.isdigit():
            stages[stage] = int(value)
    stages["hub"] = read_ms
    if sent_ms is not None:
        stages["sent"] = sent_ms
    return stages


async def _assign_all(consumer: Any, names: list[str]) -> list[Any]:

    partitions: list[Any] = []
    for name in names:
        ids = consumer.partitions_for_topic(name)
        if ids is None:
            await consumer._client.force_metadata_update()
            ids = consumer.partitions_for_topic(name) or set()
        partitions.extend(TopicPartition(name, p) for p in sorted(ids))
    consumer.assign(partitions)
    return partitions


async def _seek_to_recent(consumer: Any, partitions: list[Any], replay_s: float) -> dict[Any, int]:
    """Seek `replay_s` back; returns the end offsets at start (caught up once there)."""
    ends: dict[Any, int] = await consumer.end_offsets(partitions)
    if replay_s <= 0:
        for tp in partitions:
            consumer.seek(tp, ends[tp])
        return ends
    since_ms = int((time.time() - replay_s) * 1000)
    offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
    for tp in partitions:
        found = offsets.get(tp)
        consumer.seek(tp, found.offset if found is not None else ends[tp])
    return ends


async def _caught_up(consumer: Any, ends: dict[Any, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def feed_hub(
    settings: Settings, hub: Hub, stop: asyncio.Event, *, replay_s: float | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Feed `hub` until `stop` is set; `ready` is set once the history replay has caught up.

    Serve clients only after `ready`: before it, snapshots and resume cursors would be stale.
    """

    channels = channel_by_topic(settings.broadcaster.topic_prefix)
    lookback = settings.broadcaster.replay_s if replay_s is None else replay_s
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=None, enable_auto_commit=False,
        fetch_max_wait_ms=20, max_poll_records=500,
    )
    await consumer.start()
    try:
        partitions = await _assign_all(consumer, list(channels))
        ends = await _seek_to_recent(consumer, partitions, lookback)
        for tp in partitions:
            hub.track(f"{tp.topic}:{tp.partition}", channels[tp.topic], await consumer.position(tp))
        while not stop.is_set():
            if ready is not None and not ready.is_set() and await _caught_up(consumer, ends):
                log.info("snapshot state rebuilt: %d entities", hub.stats()["entities"])
                ready.set()
            batches = await consumer.getmany(timeout_ms=200)
            read_ms = headers.now_ms()
            last = None
            for tp, messages in batches.items():
                channel = channels[tp.topic]
                for message in messages:
                    try:
                        item = make_item(message.value, channel=channel, topic=tp.topic, partition=tp.partition,
                                         offset=message.offset, ts_ms=message.timestamp, key=message.key,
                                         stages=stages_of(message.headers, read_ms, headers.now_ms()))
                    except (ValueError, TypeError) as exc:  # one unreadable record never stops the feed
                        log.warning("skipping unreadable record %s:%s@%s: %s", tp.topic, tp.partition,
                                    message.offset, exc)
                        hub.note_unreadable(f"{tp.topic}:{tp.partition}", message.offset)
                        continue
                    hub.publish(item)
                    last = message
            if last is not None:  # one sample per Kafka batch keeps the hot loop free of metric calls
                observe_broadcast(last.headers, read_ms, headers.now_ms())
            hub.flush()
    finally:
        await consumer.stop()
