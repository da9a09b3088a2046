"""Providers' team lists to `reference.teams`: what a reference feed's poller publishes to.

The poller hands over each team-list response whole (feed `teams`, see `HttpProvider.reference_feeds`);
`ReferencePublisher` parses it with the provider's own parser (`schemas.providers.parse_reference`) and
sends one `TeamReference` per team, keyed by provider, sport and the provider's team id, to the compacted
topic. A response that does not parse goes to the dead-letter topic with the reason; the poll still counts
as done (polling it again would not change the answer).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import orjson

from connectors.publisher import record_headers
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.errors import NormalizationError
from schemas.providers import parse_reference
from schemas.timeutil import iso_z, utc_now

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers


@runtime_checkable
class RecordSender(Protocol):
    async def send_records(self, records: Sequence[Record]) -> None:
        """Return only once every record is durably stored (or raise)."""


@dataclass
class MemorySender:
    records: list[Record] = field(default_factory=list)

    async def send_records(self, records: Sequence[Record]) -> None:
        self.records.extend(records)


def reference_records(envelope: RawEnvelope) -> list[Record]:
    """One `reference.teams` record per team of a team-list response, or one dead letter saying why not."""
    headers = record_headers(envelope)
    try:
        teams = parse_reference(envelope.provider, envelope.payload, envelope.normalizer_params())
    except NormalizationError as exc:
        body = {"provider": envelope.provider, "feed": envelope.feed, "error": exc.reason, "path": exc.path,
                "payload": envelope.payload, "sourceTopic": topics.REFERENCE_TEAMS, "failedAt": iso_z(utc_now())}
        return [(topics.DEADLETTER, f"{envelope.provider}:{envelope.key}".encode(), orjson.dumps(body), headers)]
    return [(topics.REFERENCE_TEAMS, team.entity_key.encode(), team.to_json(), headers) for team in teams]


class ReferencePublisher:
    """A `RawPublisher` for reference feeds: team lists become `reference.teams` records."""

    def __init__(self, sender: RecordSender) -> None:
        self._sender = sender

    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        records = [r for e in envelopes for r in reference_records(e)]
        for topic, key, _, _ in records:
            if topic == topics.DEADLETTER:
                log.warning("team list %s does not parse: dead-lettered", key.decode())
        await self._sender.send_records(records)
