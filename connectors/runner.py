"""Run the feeds of one or more providers until stopped (`sportsflow connect`).

Per provider: one HTTP client (connection pool) shared by its pollers; its push feeds (AMQP, HTTP
streams, token refreshers) when the provider module offers `push_feeds()`; a `prepare()` hook awaited
before the first poll (STATSCORE's first OAuth token). Every feed reports to one `HealthMonitor`, whose
up/down changes `publish_loop` sends to `canonical.feed_status`. Credentials come from the environment or,
with `aws.secrets_manager_prefix`, from Secrets Manager (`connectors.secrets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

import httpx

from connectors.base import FeedRequest, HttpProvider
from connectors.errors import ProviderError
from connectors.health import HealthMonitor, KafkaStatusSink, StatusSink, publish_loop
from connectors.policy import max_age_s
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import RawPublisher
from connectors.push_stream import PushFeed
from connectors.reference import RecordSender, ReferencePublisher
from connectors.registry import all_connectors
from connectors.secrets import with_provider_secrets
from runtime.kafka import client_options
from runtime.settings import ProviderSettings, Settings
from schemas.envelope import RawEnvelope
from schemas.providers import REFERENCE_FEED
from schemas.timeutil import utc_now

log = logging.getLogger(__name__)
PREPARE_TIMEOUT_S = 30.0
# First polls are spread over this many seconds: 5,000 feeds starting at once would queue on the pool.
START_SPREAD_S = 5.0


@runtime_checkable
class PushProvider(Protocol):
    def push_feeds(
        self, settings: ProviderSettings, publisher: RawPublisher, monitor: HealthMonitor, client: httpx.AsyncClient,
    ) -> list[PushFeed]: ...


@runtime_checkable
class PreparedProvider(Protocol):
    async def prepare(self, settings: ProviderSettings, client: httpx.AsyncClient, monitor: HealthMonitor) -> None:
        ...


class TimedPublisher:
    """One poller's publisher: remembers how long its last records took from the provider to Kafka."""

    def __init__(self, inner: RawPublisher) -> None:
        self.inner = inner
        self.last_lag_s: float | None = None

    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        await self.inner.publish(envelopes)
        if envelopes:
            self.last_lag_s = (utc_now() - min(e.received_at for e in envelopes)).total_seconds()


FeedPaths = dict[str, list[str]]  # URL path -> names of the feeds polling it


def http_client(
    provider: HttpProvider, settings: Settings, max_connections: int = 100, monitor: HealthMonitor | None = None,
    feed_paths: FeedPaths | None = None,
) -> httpx.AsyncClient:
    provider_settings = settings.provider(provider.name)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    hooks = {}
    if monitor is not None and feed_paths is not None:
        hooks["response"] = [_response_hook(provider.name, monitor, feed_paths)]
    return httpx.AsyncClient(
        base_url=provider.base_url(provider_settings),
        # Waiting for a free connection is our queueing, not the provider failing: a longer pool timeout.
        timeout=httpx.Timeout(provider_settings.timeout_s, connect=min(5.0, provider_settings.timeout_s),
                              pool=max(30.0, provider_settings.timeout_s)),
        headers={"User-Agent": "sportsflow/0.1", "Accept-Encoding": "gzip"},
        follow_redirects=False, event_hooks=hooks,
        transport=BoundedTransport(httpx.AsyncHTTPTransport(limits=limits), max_connections),
    )


class BoundedTransport(httpx.AsyncBaseTransport):
    """At most `limit` requests inside the connection pool; the rest wait on a semaphore.

    httpcore rescans its whole queue of waiting requests whenever a connection frees up, so 5,000 feeds
    queued in the pool cost O(n^2) CPU; waiting here is O(1). A slot is held until the body is closed.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(limit)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        response.stream = _ReleasingStream(response.stream, self._slots)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, slots: asyncio.Semaphore) -> None:
        self._inner, self._slots, self._released = inner, slots, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            if isinstance(self._inner, httpx.AsyncByteStream):
                await self._inner.aclose()
        finally:
            if not self._released:
                self._released = True
                self._slots.release()


def _response_hook(
    provider: str, monitor: HealthMonitor, feed_paths: FeedPaths
) -> Callable[[httpx.Response], Awaitable[None]]:
    """What the poller does not report to health, seen on the responses themselves:

    - a 304 is a successful poll, but the poller reports only polls that returned a body: beat here;
    - `Cache-Control: max-age` stretches the feed's cadence (the poller waits that long), so the
      expected beat interval follows it, or a healthy feed would look silent.
    """

    async def hook(response: httpx.Response) -> None:
        if response.status_code >= 400:
            return
        names = feed_paths.get(response.request.url.path, ())
        age = max_age_s(response.headers)
        for name in names:
            if age is not None:
                monitor.stretch(provider, name, age)
            if response.status_code == 304:
                monitor.beat(provider, name)

    return hook


def build_pollers(
    provider: HttpProvider, settings: Settings, client: httpx.AsyncClient, publisher: RawPublisher, *,
    monitor: HealthMonitor | None = None, feed_paths: FeedPaths | None = None, reference: RawPublisher | None = None,
) -> list[FeedPoller]:
    """One poller per feed; with `reference` (where team lists go), the provider's reference feeds too
    (unless its `PARAMS__REFERENCE=off`)."""
    provider_settings = settings.provider(provider.name)
    feeds = provider.feeds(provider_settings)
    if reference is not None and provider_settings.params.get("reference", "on") != "off":
        feeds += provider.reference_feeds(provider_settings)
    # Quota pacing shares the budget among the feeds that poll at the scores' cadence, not the team lists.
    state = ProviderState(feeds=max(1, sum(f.feed != REFERENCE_FEED for f in feeds)))
    state.budget.period_s = provider.quota_period_s
    state.budget.plan = provider_settings.plan_requests
    pollers = []
    for feed in feeds:
        timed = TimedPublisher(reference if reference is not None and feed.feed == REFERENCE_FEED else publisher)
        on_poll = _on_poll(monitor, timed) if monitor is not None else None
        if monitor is not None:
            # Starts are spread over START_SPREAD_S: a feed not yet started is not silent.
            monitor.register(provider.name, feed.name,
                             max(START_SPREAD_S, provider.interval(feed, provider_settings, live=False)))
        if feed_paths is not None:
            feed_paths.setdefault(feed.path, []).append(feed.name)
        pollers.append(FeedPoller(provider, feed, settings=provider_settings, client=client, publisher=timed,
                                  state=state, on_poll=on_poll, monitor=monitor))
    return pollers


def _on_poll(monitor: HealthMonitor, timed: TimedPublisher) -> _OnPoll:
    def on_poll(feed: FeedRequest, ok: bool, reason: str | None) -> None:
        if ok:
            monitor.beat(feed.provider, feed.name, timed.last_lag_s)
            timed.last_lag_s = None
        else:
            monitor.failure(feed.provider, feed.name, reason or "poll failed")

    return on_poll


class _OnPoll(Protocol):
    def __call__(self, feed: FeedRequest, ok: bool, reason: str | None) -> None: ...


@contextlib.asynccontextmanager
async def _status_sink(settings: Settings, given: StatusSink | None) -> AsyncIterator[StatusSink]:
    if given is not None:
        yield given
        return

    async with KafkaStatusSink(client_options(settings)) as sink:
        yield sink


async def _prepare(provider: HttpProvider, settings: Settings, client: httpx.AsyncClient,
                   monitor: HealthMonitor) -> None:
    if not isinstance(provider, PreparedProvider):
        return
    try:
        async with asyncio.timeout(PREPARE_TIMEOUT_S):
            await provider.prepare(settings.provider(provider.name), client, monitor)
    except (ProviderError, TimeoutError) as exc:  # its feeds start anyway and report the failure as health
        log.warning("%s: preparing failed (%s); its feeds will retry", provider.name, exc or type(exc).__name__)


async def _staggered(poller: FeedPoller, delay: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
    if not stop.is_set():
        await poller.run(stop)


async def run_connectors(
    settings: Settings, publisher: RawPublisher, stop: asyncio.Event, only: Sequence[str] | None = None, *,
    status_sink: StatusSink | None = None, monitor: HealthMonitor | None = None,
) -> None:
    """Run every enabled provider's feeds (or `only` these) until `stop` is set."""
    providers = [
        p for name, p in sorted(all_connectors().items())
        if (not only or name in only) and settings.provider(name).enabled
    ]
    # The local moto server answers every AWS API on the DynamoDB endpoint; real AWS needs none.
    settings = await asyncio.to_thread(with_provider_secrets, settings, [p.name for p in providers],
                                       endpoint_url=settings.aws.endpoint_url_dynamodb)
    monitor = monitor or HealthMonitor()
    # Team lists go to reference.teams through the same producer (a publisher that cannot: none are fetched).
    reference = ReferencePublisher(publisher) if isinstance(publisher, RecordSender) else None
    paths: dict[str, FeedPaths] = {p.name: {} for p in providers}
    clients = [http_client(p, settings, monitor=monitor, feed_paths=paths[p.name]) for p in providers]
    try:
        async with _status_sink(settings, status_sink) as sink:
            await asyncio.gather(*(_prepare(p, settings, c, monitor) for p, c in zip(providers, clients, strict=True)))
            pollers = [poller for p, c in zip(providers, clients, strict=True)
                       for poller in build_pollers(p, settings, c, publisher, monitor=monitor,
                                                   feed_paths=paths[p.name], reference=reference)]
            pushed = [feed for p, c in zip(providers, clients, strict=True) if isinstance(p, PushProvider)
                      for feed in p.push_feeds(settings.provider(p.name), publisher, monitor, c)]
            log.info("running %d polled and %d pushed feeds of %s", len(pollers), len(pushed),
                     ", ".join(p.name for p in providers))
            async with asyncio.TaskGroup() as group:
                group.create_task(publish_loop(monitor, sink, stop))
                for i, poller in enumerate(pollers):
                    group.create_task(_staggered(poller, i / len(pollers) * START_SPREAD_S, stop))
                for feed in pushed:
                    group.create_task(feed.run(stop))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
