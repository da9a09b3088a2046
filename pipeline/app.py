"""The Faust app: `faust -A pipeline.app worker -l info` (or `sportsflow worker`).

Importing this module builds no connections and reads no environment: the broker and other
settings are applied when Faust finalizes the app (`on_configured`).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from agents.normalize import OutRecord, process_raw
from pipeline import headers as h
from pipeline import topics
from pipeline.settings import get_settings
from schemas.providers import providers

log = logging.getLogger(__name__)

app = faust.App(
    "sportsflow",
    autodiscover=False,
    value_serializer="raw",
    key_serializer="raw",
    processing_guarantee="at_least_once",
)


@app.on_configured.connect
def _configure(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
    from pipeline.faust_config import apply_settings

    apply_settings(args[0], get_settings())


raw_topic = app.topic(*(topics.raw_topic(p) for p in providers()), value_type=bytes, key_type=bytes)
_out_topics: dict[str, Any] = {}


def _topic(name: str) -> Any:
    topic = _out_topics.get(name)
    if topic is None:
        topic = _out_topics[name] = app.topic(name, value_type=bytes, key_type=bytes)
    return topic


async def _publish(out: OutRecord) -> None:
    await _topic(out.topic).send(
        key=out.key, value=out.value, headers=[*out.headers, (h.PUBLISHED_TS, h.ms(h.now_ms()))]
    )


@app.agent(raw_topic)
async def normalize_raw(stream: Any) -> None:
    """Every raw record is published as canonical records or dead-lettered before it is acked."""
    async for event in stream.events():
        message = event.message
        processed = process_raw(
            message.topic, message.partition, message.offset, message.value, list(message.headers or [])
        )
        for out in processed.records:
            await _publish(out)
        if processed.dead_letter is not None:
            log.warning("dead letter from %s:%s@%s", message.topic, message.partition, message.offset)
            await _publish(processed.dead_letter)
