"""The polling loop shared by every HTTP provider: pace, request, retry, split, publish.

One `FeedPoller` task per feed; feeds of a provider share its circuit breaker, quota budget
and HTTP connection pool. Cancel-safe: cancelling `run()` between polls loses nothing, and a
poll whose records were not all acknowledged by Kafka is repeated in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from connectors.base import FeedRequest, HttpProvider
from connectors.errors import CircuitOpenError, ProviderError, QuotaExhaustedError
from connectors.policy import Backoff, CircuitBreaker, QuotaBudget, max_age_s, retry_after_s
from connectors.publisher import RawPublisher
from pipeline.settings import ProviderSettings
from schemas.envelope import RawEnvelope, content_hash
from schemas.timeutil import utc_now

log = logging.getLogger(__name__)


@dataclass
class ProviderState:
    """Shared by all feeds of one provider."""

    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    budget: QuotaBudget = field(default_factory=QuotaBudget)
    feeds: int = 1
    requests: int = 0
    failures: int = 0


@dataclass
class PollResult:
    published: int
    live: bool
    next_in_s: float


class SeenHashes:
    """Bounded memory of the last content hash per entity: an unchanged entity is not republished."""

    def __init__(self, capacity: int = 4096) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def changed(self, key: str, digest: str) -> bool:
        return self._items.get(key) != digest

    def remember(self, key: str, digest: str) -> None:
        self._items[key] = digest
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class FeedPoller:
    def __init__(
        self, provider: HttpProvider, feed: FeedRequest, *, settings: ProviderSettings, client: httpx.AsyncClient,
        publisher: RawPublisher, state: ProviderState, backoff: Backoff | None = None,
        on_poll: Callable[[FeedRequest, bool, str | None], None] | None = None,
    ) -> None:
        self.provider, self.feed, self.settings = provider, feed, settings
        self.client, self.publisher, self.state = client, publisher, state
        self.backoff = backoff or Backoff()
        self.seen = SeenHashes()
        self.on_poll = on_poll
        self._etag: str | None = None
        self._last_modified: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                delay = (await self.poll_once()).next_in_s
                self.backoff.reset()
            except ProviderError as exc:
                delay = self._after_failure(exc)
            # Sleep, but wake at once when asked to stop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def _after_failure(self, exc: ProviderError) -> float:
        self.state.failures += 1
        if self.on_poll:
            self.on_poll(self.feed, False, exc.reason)
        if isinstance(exc, CircuitOpenError):
            return max(0.5, self.state.breaker.remaining_s())
        if isinstance(exc, QuotaExhaustedError):
            log.error("%s", exc)
            return exc.retry_after or 3600.0
        delay = self.backoff.next_delay()
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        log.warning("%s; retrying in %.1fs", exc, delay)
        return delay

    async def poll_once(self) -> PollResult:
        """One request; publishes changed entities. Raises ProviderError on any failure."""
        provider, feed, state = self.provider, self.feed, self.state
        if not state.breaker.allow():
            raise CircuitOpenError(provider.name, feed.name, "circuit open after repeated failures")
        if state.budget.exhausted:
            raise QuotaExhaustedError(
                provider.name, feed.name, "quota budget exhausted", retriable=False,
                retry_after=max(60.0, (state.budget.period_ends_at or time.time()) - time.time()),
            )
        response = await self._request()
        received_at = utc_now()
        quota = provider.quota(response.headers)
        state.budget.update(quota.remaining, quota.resets_in_s)
        if response.status_code == 304:
            state.breaker.record_success()
            return self._result(0, live=False, response=response)
        self._raise_for_status(response)
        payload = self._decode(response)
        provider.check(feed, response, payload)
        state.breaker.record_success()
        self._etag = response.headers.get("etag") or self._etag
        self._last_modified = response.headers.get("last-modified") or self._last_modified
        published = await self._publish(payload, received_at)
        if self.on_poll:
            self.on_poll(feed, True, None)
        return self._result(published, live=provider.is_live(feed, payload), response=response)

    async def _request(self) -> httpx.Response:
        headers, params = self.provider.auth(self.settings)
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        self.state.requests += 1
        try:
            return await self.client.get(self.feed.path, params={**self.feed.params, **params}, headers=headers)
        except httpx.TimeoutException as exc:
            self.state.breaker.record_failure()
            raise ProviderError(self.provider.name, self.feed.name, f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            self.state.breaker.record_failure()
            # The exception text may contain the URL with credentials in its query: keep only the type.
            reason = f"connection error ({type(exc).__name__})"
            raise ProviderError(self.provider.name, self.feed.name, reason) from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        name, feed = self.provider.name, self.feed.name
        if status == 429:
            delay = retry_after_s(response.headers, 5.0)
            raise ProviderError(name, feed, "rate limited", status=429, retry_after=delay)
        if status >= 500:
            self.state.breaker.record_failure()
            raise ProviderError(name, feed, "server error", status=status)
        if status in (401, 403) and _mentions_quota(response):
            raise QuotaExhaustedError(name, feed, "provider reports the quota is used up", status=status,
                                      retriable=False, retry_after=3600.0)
        raise ProviderError(name, feed, "request refused", status=status, retriable=False)

    def _decode(self, response: httpx.Response) -> Any:
        if self.feed.content_type == "xml":
            return response.text
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            self.state.breaker.record_failure()
            raise ProviderError(self.provider.name, self.feed.name, "malformed or truncated JSON body",
                                status=response.status_code) from None

    async def _publish(self, payload: Any, received_at: Any) -> int:
        fresh: list[tuple[RawEnvelope, str, str]] = []
        for key, part in self.provider.split(self.feed, payload):
            digest = content_hash(part)
            if self.seen.changed(key, digest):
                envelope = RawEnvelope(
                    provider=self.provider.name, feed=self.feed.feed, key=key, params=dict(self.feed.params),
                    received_at=received_at, content_type=self.feed.content_type, payload=part, content_hash=digest,
                )
                fresh.append((envelope, key, digest))
        if fresh:
            await self.publisher.publish([e for e, _, _ in fresh])
            for _, key, digest in fresh:  # only after Kafka acknowledged all of them
                self.seen.remember(key, digest)
        return len(fresh)

    def _result(self, published: int, live: bool, response: httpx.Response) -> PollResult:
        interval = self.provider.interval(self.feed, self.settings, live)
        cache_age = max_age_s(response.headers)
        if cache_age is not None:
            interval = max(interval, cache_age)
        interval = max(interval, self.state.budget.min_interval_s(self.state.feeds))
        return PollResult(published, live, interval)


def _mentions_quota(response: httpx.Response) -> bool:
    text = response.text.lower()
    return "usage" in text or "quota" in text or "limit" in text
