"""The default demo (`make run`): every provider's connector polls the demo world, and the worker's
two stages (run in-process, as `sportsflow replay` runs them) give one canonical id per simulated
match, including the same teams meeting twice on one day. Kafka plays no part in resolution, so
this runs without it; the Kafka path is tests/integration/test_resolution_flow.py."""

from __future__ import annotations

import orjson
import pytest

from connectors.publisher import record_headers
from connectors.simulator.world import World
from pipeline.replay.engine import Replayer
from pipeline.replay.source import RawRecord
from runtime.settings import Settings
from schemas import topics
from tests.simulated import poll_every_connector, serving, use_demo_providers


@pytest.fixture
async def demo(monkeypatch):
    world = World(matches=6)  # `sportsflow simulate --demo`'s default world
    pairs = [(m.sport, m.home, m.away) for m in world.matches.values()]
    assert len(set(pairs)) < len(pairs), "the demo world has the same teams twice in a day"
    async with serving(world) as (sim, url):
        use_demo_providers(monkeypatch, url)
        yield sim


async def test_the_demo_has_one_canonical_id_per_simulated_match(demo) -> None:
    world = demo.world
    for _ in range(24):
        world.tick(3.0)  # every match is live
    settings = Settings()
    envelopes = await poll_every_connector(settings)
    providers = {e.provider for e in envelopes}
    assert len(providers) >= 4, providers

    replayer = Replayer(settings.processing)
    events = []
    for offset, envelope in enumerate(envelopes):
        raw = RawRecord(topics.raw_topic(envelope.provider), 0, offset, envelope.received_at_ms,
                        envelope.key.encode() if envelope.key else None, envelope.to_json(),
                        record_headers(envelope))
        outcome = replayer.process(raw)
        assert outcome.dead_letter is None, outcome.dead_letter
        events += [out for out in outcome.outputs if out.topic == topics.EVENTS]
    assert events
    refs_by_id: dict[str, dict[str, str]] = {}
    ids_by_ref: dict[tuple[str, str], set[str]] = {}
    for out in events:
        record = orjson.loads(out.value)
        refs_by_id.setdefault(record["id"], {}).update(record["refs"])
        for provider, pid in record["refs"].items():
            ids_by_ref.setdefault((provider, pid), set()).add(record["id"])
    assert all(len(ids) == 1 for ids in ids_by_ref.values()), {k: v for k, v in ids_by_ref.items() if len(v) > 1}
    matches = {refs.get("theoddsapi") for refs in refs_by_id.values()}
    assert matches == set(world.matches), refs_by_id
    assert len(refs_by_id) == len(world.matches), "one canonical id per simulated match"
    assert all(len(refs) >= 2 for refs in refs_by_id.values()), refs_by_id  # NFL: two providers cover it
    assert max(len(refs) for refs in refs_by_id.values()) >= 4
