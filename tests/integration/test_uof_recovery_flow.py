"""A UOF disconnect in the middle of a match, end to end: simulator -> RabbitMQ -> connector (recovery
through the REST API) -> Kafka -> worker. On the canonical topic nothing is lost and nothing is doubled."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence

import aio_pika
import orjson
import pytest

from connectors.publisher import KafkaPublisher, MemoryPublisher
from connectors.simulator.server import Simulator
from connectors.simulator.sportradar import UOF_URL, match_number, odds_change_xml
from connectors.simulator.world import World, own_teams
from runtime.kafka import client_options
from schemas import topics
from schemas.canonical import Odds
from schemas.envelope import RawEnvelope
from schemas.providers import normalize
from tests.conftest import TIME_UNIT, published_by
from tests.connectors.amqp_support import rabbitmq_url
from tests.connectors.test_uof import disconnect_and_recover

pytestmark = pytest.mark.integration
__all__ = ["rabbitmq_url"]  # the fixture, imported for pytest


class Tee(MemoryPublisher):
    """Kafka, and a memory of what was sent (the recovery check reads it)."""

    def __init__(self, kafka: KafkaPublisher) -> None:
        super().__init__()
        self.kafka = kafka

    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        await self.kafka.publish(envelopes)
        await super().publish(envelopes)


@pytest.mark.timeout(180)
async def test_a_30s_uof_disconnect_loses_and_doubles_nothing_on_canonical_odds(
    stack, worker, consumer_factory, rabbitmq_url, unique
):
    world = World(seed=int(unique[:6], 16), matches=3, sport_keys=("soccer_epl",), live_ticks=60)
    own_teams(world, unique)
    sim = Simulator(world)
    queue = f"sportsflow.uof.test-{uuid.uuid4().hex[:8]}"
    port = int(rabbitmq_url.rsplit(":", 1)[1].strip("/"))
    odds = await consumer_factory(topics.ODDS)

    def configure(app):
        app[UOF_URL] = rabbitmq_url

    try:
        async with KafkaPublisher(client_options(stack)) as kafka:
            await disconnect_and_recover(sim, configure, queue, port, rabbitmq_url, Tee(kafka))
    finally:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            await (await connection.channel()).queue_delete(queue)

    urns = {f"sr:match:{match_number(m)}": m for m in world.matches.values()}
    # What the canonical stream must end with: every market of each match's latest odds_change.
    latest = [normalize("sportradar", "uof", odds_change_xml(m).decode(), {}) for m in world.matches.values()]
    expected = {(r.provider_event_id, r.market): [(o.side, o.price) for o in r.outcomes]
                for records in latest for r in records if isinstance(r, Odds)}
    seen: dict[tuple[str, str], list[dict]] = {}

    def settled() -> bool:
        return set(seen) == set(expected) and all(
            [(o["side"], o["price"]) for o in seen[k][-1]["outcomes"]] == v for k, v in expected.items())

    deadline = time.monotonic() + 60 * TIME_UNIT  # a loaded worker may lag; then read 3 s more for doubles
    quiet_until = None
    while time.monotonic() < (quiet_until or deadline):
        batch = await odds.getmany(timeout_ms=1000)
        if quiet_until is None and settled():
            quiet_until = time.monotonic() + 3.0
        for messages in batch.values():
            for m in messages:
                record = orjson.loads(m.value)
                if published_by(m, worker) and record["providerEventId"] in urns:
                    seen.setdefault((record["providerEventId"], record["market"]), []).append(record)
    assert set(seen) == set(expected)
    for key, records in seen.items():
        last = records[-1]
        assert [(o["side"], o["price"]) for o in last["outcomes"]] == expected[key], key  # nothing lost
        seqs = [r["seq"] for r in records]
        assert seqs == sorted(set(seqs)), key  # in order, no seq twice
        contents = [(tuple((o["side"], o["price"]) for o in r["outcomes"]), r["suspended"]) for r in records]
        assert all(a != b for a, b in itertools.pairwise(contents)), key  # nothing doubled
