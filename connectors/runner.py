"""Run the pollers of one or more providers until stopped (`sportsflow connect`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from connectors.base import HttpProvider
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import RawPublisher
from connectors.registry import all_connectors
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def http_client(provider: HttpProvider, settings: Settings, max_connections: int = 100) -> httpx.AsyncClient:
    provider_settings = settings.provider(provider.name)
    return httpx.AsyncClient(
        base_url=provider.base_url(provider_settings),
        timeout=httpx.Timeout(provider_settings.timeout_s, connect=min(5.0, provider_settings.timeout_s)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": "sportsflow/0.1", "Accept-Encoding": "gzip"},
        follow_redirects=False,
    )


def build_pollers(
    provider: HttpProvider, settings: Settings, client: httpx.AsyncClient, publisher: RawPublisher
) -> list[FeedPoller]:
    provider_settings = settings.provider(provider.name)
    feeds = provider.feeds(provider_settings)
    state = ProviderState(feeds=max(1, len(feeds)))
    state.budget.period_s = provider.quota_period_s
    return [
        FeedPoller(provider, feed, settings=provider_settings, client=client, publisher=publisher, state=state)
        for feed in feeds
    ]


async def run_connectors(
    settings: Settings, publisher: RawPublisher, stop: asyncio.Event, only: Sequence[str] | None = None
) -> None:
    """Poll every enabled provider (or `only` these) until `stop` is set."""
    providers = [
        p for name, p in sorted(all_connectors().items())
        if (not only or name in only) and settings.provider(name).enabled
    ]
    clients = [http_client(p, settings) for p in providers]
    try:
        pollers = [poller for p, c in zip(providers, clients, strict=True)
                   for poller in build_pollers(p, settings, c, publisher)]
        log.info("polling %d feeds of %s", len(pollers), ", ".join(p.name for p in providers))
        async with asyncio.TaskGroup() as group:
            for poller in pollers:
                group.create_task(poller.run(stop))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
