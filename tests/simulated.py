"""The provider simulator for tests: a world served on a free port, the demo's provider settings pointed
at it, and one poll of every connector (the demo's `make run` path, without Kafka)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from connectors.health import HealthMonitor
from connectors.publisher import MemoryPublisher
from connectors.registry import all_connectors
from connectors.runner import PreparedProvider, build_pollers, http_client
from connectors.simulator.server import Simulator, build_app
from connectors.simulator.world import World
from pipeline.commands import demo_environment
from runtime.settings import Settings
from schemas.envelope import RawEnvelope


@contextlib.asynccontextmanager
async def serving(world: World) -> AsyncIterator[tuple[Simulator, str]]:
    """The simulator serving `world`: (simulator, its base URL)."""
    sim = Simulator(world)
    runner = web.AppRunner(build_app(sim), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield sim, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def use_demo_providers(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Every provider's settings as `make run` sets them, pointed at the simulator at `url`."""
    default = f"{Settings().simulator.host}:{Settings().simulator.port}"
    for name, value in demo_environment(Settings()).items():
        monkeypatch.setenv(name, value.replace(default, url.removeprefix("http://")))
    # The STATSCORE connector keeps its OAuth tokens per client id for the life of the process; this
    # simulator knows none an earlier test's simulator issued.
    monkeypatch.setenv("SPORTSFLOW_PROVIDERS__STATSCORE__CLIENT_ID", f"test-{uuid.uuid4().hex}")


async def poll_every_connector(settings: Settings) -> list[RawEnvelope]:
    """One poll of every feed of every connector, as the demo's connectors make it: the raw records."""
    publisher = MemoryPublisher()
    monitor = HealthMonitor()
    for provider in all_connectors().values():
        async with http_client(provider, settings) as client:
            if isinstance(provider, PreparedProvider):
                await provider.prepare(settings.provider(provider.name), client, monitor)
            for poller in build_pollers(provider, settings, client, publisher):
                await poller.poll_once()
    return list(publisher.envelopes)
