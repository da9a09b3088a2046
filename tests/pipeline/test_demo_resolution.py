"""The default demo (`make run`): every provider's connector polls the demo world, and the worker's
two stages (run in-process, as `sportsflow replay` runs them) give one canonical id per simulated
match, including the same teams meeting twice on one day. Kafka plays no part in resolution, so
this runs without it; the Kafka path is tests/integration/test_resolution_flow.py."""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web

from connectors.health import HealthMonitor
from connectors.publisher import MemoryPublisher, record_headers
from connectors.registry import all_connectors
from connectors.runner import PreparedProvider, build_pollers, http_client
from connectors.simulator.server import Simulator, build_app
from connectors.simulator.world import World
from pipeline.commands import demo_environment
from pipeline.replay.engine import Replayer
from pipeline.replay.source import RawRecord
from runtime.settings import Settings
from schemas import topics


@pytest.fixture
async def demo(monkeypatch):
    world = World(matches=6)  # `sportsflow simulate --demo`'s default world
    pairs = [(m.sport, m.home, m.away) for m in world.matches.values()]
    assert len(set(pairs)) < len(pairs), "the demo world has the same teams twice in a day"
    sim = Simulator(world)
    runner = web.AppRunner(build_app(sim), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    for name, value in demo_environment(Settings()).items():
        monkeypatch.setenv(name, value.replace(f"{Settings().simulator.host}:{Settings().simulator.port}",
                                               f"127.0.0.1:{port}"))
    yield sim
    await runner.cleanup()


async def test_the_demo_has_one_canonical_id_per_simulated_match(demo) -> None:
    world = demo.world
    for _ in range(24):
        world.tick(3.0)  # every match is live
    settings = Settings()
    publisher = MemoryPublisher()
    monitor = HealthMonitor()
    for provider in all_connectors().values():
        async with http_client(provider, settings) as client:
            if isinstance(provider, PreparedProvider):
                await provider.prepare(settings.provider(provider.name), client, monitor)
            for poller in build_pollers(provider, settings, client, publisher):
                await poller.poll_once()
    providers = {e.provider for e in publisher.envelopes}
    assert len(providers) >= 4, providers

    replayer = Replayer(settings.processing)
    events = []
    for offset, envelope in enumerate(publisher.envelopes):
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
