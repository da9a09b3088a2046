"""The replay decides as the live worker does with the same settings: here, how long matched providers
must disagree before a discrepancy is opened (`processing.discrepancy_grace_s`). Kafka plays no part."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from connectors.publisher import record_headers
from connectors.simulator.world import World
from pipeline.replay.engine import Replayer
from pipeline.replay.source import RawRecord
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import RawEnvelope
from tests.simulated import poll_every_connector, serving, use_demo_providers


@pytest.fixture
async def world(monkeypatch):
    world = World(matches=6)
    async with serving(world) as (_sim, url):
        use_demo_providers(monkeypatch, url)
        yield world


def discrepancies(settings: Settings, rounds: list[list[RawEnvelope]], every_s: float) -> list[dict]:
    """Replay the rounds of polls `every_s` seconds apart (by receipt time); the discrepancies it opens."""
    replayer = Replayer(settings.processing)
    first = min(e.received_at for e in rounds[0])
    found, offset = [], 0
    for n, envelopes in enumerate(rounds):
        for envelope in envelopes:
            moved = envelope.model_copy(update={"received_at": first + timedelta(seconds=n * every_s)})
            raw = RawRecord(topics.raw_topic(moved.provider), 0, offset, moved.received_at_ms,
                            moved.key.encode(), moved.to_json(), record_headers(moved))
            offset += 1
            found += [orjson.loads(out.value) for out in replayer.process(raw).outputs
                      if out.topic == topics.DISCREPANCIES]
    return found


async def test_the_replay_opens_discrepancies_after_the_configured_grace(world, monkeypatch) -> None:
    for _ in range(24):
        world.tick(3.0)  # every match is live
    rounds = []
    for _ in range(3):
        rounds.append(await poll_every_connector(Settings()))
        world.tick(1.0)
    default = Settings()
    assert default.processing.discrepancy_grace_s == 15.0
    opened = [d for d in discrepancies(default, rounds, every_s=20) if d["state"] == "open"]
    assert opened, "the world's providers disagree (STATSCORE gives start times to the minute)"
    monkeypatch.setenv("SPORTSFLOW_PROCESSING__DISCREPANCY_GRACE_S", "60")
    patient = Settings()
    assert discrepancies(patient, rounds, every_s=20) == [], "40 s of disagreement is inside a 60 s grace"
    late = [d for d in discrepancies(patient, rounds, every_s=30) if d["state"] == "open"]
    assert {(d["id"], d["field"]) for d in late} == {(d["id"], d["field"]) for d in opened}
