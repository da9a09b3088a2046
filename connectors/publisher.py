"""Where raw records go: Kafka in production, a list in unit tests (`MemoryPublisher`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer

from schemas import headers as h
from schemas import topics
from schemas.envelope import RawEnvelope


class RawPublisher(Protocol):
    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        """Return only once every envelope is durably stored (or raise)."""


def record_headers(envelope: RawEnvelope) -> list[tuple[str, bytes]]:
    return [
        (h.PROVIDER, envelope.provider.encode()),
        (h.FEED, envelope.feed.encode()),
        (h.PARAMS, orjson.dumps(envelope.params)),
        (h.RECEIVED_TS, h.ms(envelope.received_at_ms)),
        (h.RECORD_ID, envelope.id.encode()),
    ]


@dataclass
class MemoryPublisher:
    envelopes: list[RawEnvelope] = field(default_factory=list)

    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        self.envelopes.extend(envelopes)


class KafkaPublisher:
    """Idempotent producer (acks=all): a retried send is never written twice by the broker."""

    def __init__(self, client_options: dict[str, Any], linger_ms: int = 0) -> None:
        self._options = client_options
        self._linger_ms = linger_ms
        self._producer: Any = None

    async def __aenter__(self) -> KafkaPublisher:

        self._producer = AIOKafkaProducer(
            **self._options, acks="all", enable_idempotence=True, linger_ms=self._linger_ms,
            compression_type=None, max_batch_size=1 << 20, request_timeout_ms=30000,
        )
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()  # flushes what is pending

    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        futures = [
            await self._producer.send(
                topics.raw_topic(e.provider), value=e.to_json(), key=e.key.encode(), headers=record_headers(e)
            )
            for e in envelopes
        ]
        await asyncio.gather(*futures)

    async def send_records(self, records: Sequence[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]) -> None:
        """Records for other topics (reference.teams, dead letters), on the same idempotent producer."""
        futures = [await self._producer.send(topic, value=value, key=key, headers=headers)
                   for topic, key, value, headers in records]
        await asyncio.gather(*futures)
