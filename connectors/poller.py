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
from connectors.health import HealthMonitor
from connectors.policy import CircuitBreaker, CredentialGate, QuotaBudget, max_age_s, retry_after_s
from connectors.publisher import RawPublisher
from runtime.backoff import Backoff
from runtime.observability.hooks import observe_fetch, observe_poll_interval
from runtime.settings import ProviderSettings
from schemas.envelope import RawEnvelope, content_hash
from schemas.providers import REFERENCE_FEED
from schemas.timeutil import utc_now

log = logging.getLogger(__name__)


# A refused credential (bad or revoked key, forbidden, plan limit) is probed again this often.
REFUSED_RETRY_S = 300.0


@dataclass
class ProviderState:
    """Shared by all feeds of one provider credential: one breaker, quota budget and gate per key."""

    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    budget: QuotaBudget = field(default_factory=QuotaBudget)
    gate: CredentialGate = field(default_factory=CredentialGate)
    feeds: int = 1
    requests: int = 0
    failures: int = 0


@dataclass
class PollResult:
    published: int
    live: bool
    next_in_s: float


class SeenHashes:
    """Bounded memory of the last content hash per entity: an unchanged entity is not republished.

    Also keeps the entity's last published version (see `HttpProvider.version`), so an older
    snapshot served after a newer one is not published as if it were news.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._items: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self._capacity = capacity

    def changed(self, key: str, digest: str) -> bool:
        item = self._items.get(key)
        return item is None or item[0] != digest

    def stale(self, key: str, version: str | None) -> bool:
        item = self._items.get(key)
        return version is not None and item is not None and item[1] is not None and version < item[1]

    def remember(self, key: str, digest: str, version: str | None = None) -> None:
        self._items[key] = (digest, version)
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


class FeedPoller:
    def __init__(
        self, provider: HttpProvider, feed: FeedRequest, *, settings: ProviderSettings, client: httpx.AsyncClient,
        publisher: RawPublisher, state: ProviderState, backoff: Backoff | None = None,
        on_poll: Callable[[FeedRequest, bool, str | None], None] | None = None,
        monitor: HealthMonitor | None = None, refused_retry_s: float = REFUSED_RETRY_S,
    ) -> None:
        self.provider, self.feed, self.settings = provider, feed, settings
        self.client, self.publisher, self.state = client, publisher, state
        self.backoff = backoff or Backoff()
        self.seen = SeenHashes()
        self.on_poll = on_poll
        self.monitor = monitor
        self.refused_retry_s = refused_retry_s
        self.paced_by: str | None = None  # why the feed polls slower than configured (logged once)
        # Conditional-request validators, only for a feed answered by one request and one page.
        self._validators: tuple[str, str | None, str | None] | None = None
        self._settled: set[str] = set()  # names of final follow-ups already published
        self._live = False
        self._pause_s = 0.0
        self._cost = 0.0  # what this poll has cost so far (requests, or the provider's credits)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            delay = await self.step()
            # Sleep, but wake at once when asked to stop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def step(self) -> float:
        """One poll; returns the delay before the next (the cadence, or the backoff after a failure).

        While the credential is held (a 429's `Retry-After`, a spent quota, a refused key) no request is
        made: the delay is what is left of the hold, and a refused key keeps this feed down with its reason.
        """
        gate = self.state.gate
        held = gate.wait_s()
        if held > 0:
            if gate.refusal is not None and self.monitor is not None:
                self.monitor.down(self.provider.name, self.feed.name, gate.refusal)
            return held
        try:
            delay = (await self.poll_once()).next_in_s
        except ProviderError as exc:
            if not isinstance(exc, CircuitOpenError):  # an open circuit fetched nothing
                observe_fetch(self.provider.name, ok=False)
            return self._after_failure(exc)
        observe_fetch(self.provider.name, ok=True)
        self.backoff.reset()
        if gate.refusal is not None:
            log.warning("%s/%s: the provider accepts the credential again", self.provider.name, self.feed.name)
            gate.accepted()
        return delay

    def _after_failure(self, exc: ProviderError) -> float:
        self.state.failures += 1
        gate = self.state.gate
        if isinstance(exc, CircuitOpenError):
            if self.on_poll:
                self.on_poll(self.feed, False, exc.reason)
            return max(0.5, self.state.breaker.remaining_s())
        if not exc.retriable or isinstance(exc, QuotaExhaustedError):
            # Asking again soon cannot help and every feed of the key would get the same answer: hold them
            # all, say why once, and probe again on a slow schedule (or when the quota period ends).
            quota_end = exc.retry_after if isinstance(exc, QuotaExhaustedError) else None
            delay = quota_end or self.refused_retry_s
            reason = f"refused: {exc}"
            if gate.refusal != reason:
                log.error("%s; every feed of this credential stops; next try in %.0fs", exc, delay)
            gate.refuse(delay, reason)
            if self.monitor is not None:
                self.monitor.down(self.provider.name, self.feed.name, reason)
            elif self.on_poll:
                self.on_poll(self.feed, False, reason)
            return delay
        if self.on_poll:
            self.on_poll(self.feed, False, exc.reason)
        delay = self.backoff.next_delay()
        if exc.retry_after is not None:
            gate.hold(exc.retry_after)  # the provider said wait: no feed of this key asks before then
            delay = max(delay, exc.retry_after)
        log.warning("%s; retrying in %.1fs", exc, delay)
        return delay

    async def poll_once(self) -> PollResult:
        """One poll (every request, page and follow-up of the feed); publishes changed entities.

        Raises ProviderError on any failure, before anything of this poll is published.
        """
        provider, feed, state = self.provider, self.feed, self.state
        if not state.breaker.allow():
            raise CircuitOpenError(provider.name, feed.name, "circuit open after repeated failures")
        budget = state.budget
        budget.roll()  # a new quota period may have begun
        if state.budget.exhausted:
            raise QuotaExhaustedError(
                provider.name, feed.name, "quota budget exhausted", retriable=False,
                retry_after=max(60.0, (state.budget.period_ends_at or time.time()) - time.time()),
            )
        self._pause_s, self._cost = 0.0, 0.0
        pages, first = await self._fetch(feed, conditional=True)
        received_at = utc_now()
        if not pages:  # 304 Not Modified
            state.breaker.record_success()
            return self._result(0, live=self._live, response=first)
        state.breaker.record_success()
        payload = pages[0] if feed.feed == REFERENCE_FEED and len(pages) == 1 else provider.combine(feed, pages)
        # A team list is published whole (connectors.reference): it is not cut into fixtures.
        split = [(feed.name, payload)] if feed.feed == REFERENCE_FEED else provider.split(feed, payload)
        parts = [(feed, key, part) for key, part in split]
        settled: list[str] = []
        for follow in provider.follow_ups(feed, payload):
            if follow.name in self._settled:
                continue
            follow_parts = provider.split(follow, provider.combine(follow, (await self._fetch(follow))[0]))
            parts += [(follow, key, part) for key, part in follow_parts]
            if follow.final and follow_parts:
                settled.append(follow.name)
        published = await self._publish(parts, received_at)
        self._settled.update(settled)
        self._live = provider.is_live(feed, payload)
        if self.on_poll:
            self.on_poll(feed, True, None)
        return self._result(published, live=self._live, response=first)

    async def _fetch(self, feed: FeedRequest, *, conditional: bool = False) -> tuple[list[Any], httpx.Response]:
        """Every request and page of `feed`; ([], response) when the provider answered 304."""
        provider = self.provider
        requests = provider.requests(feed)
        pages: list[Any] = []
        first: httpx.Response | None = None
        for path, params in requests:
            page_params = dict(params)
            for page in range(provider.max_pages):
                if page and provider.page_interval_s:
                    await asyncio.sleep(provider.page_interval_s)
                url_key = f"{path}?{sorted(page_params.items())}"
                use_validators = conditional and len(requests) == 1 and page == 0
                response = await self._request(feed, path, page_params, url_key if use_validators else None)
                first = first or response
                quota = provider.quota(response.headers)
                self.state.budget.update(quota.remaining, quota.resets_in_s)
                cost = quota.cost if quota.cost is not None else 1.0
                self.state.budget.charge(cost)
                self._cost += cost
                self._pause_s = max(self._pause_s, quota.pause_s or 0.0)
                if response.status_code == 304 and use_validators:
                    return [], response
                self._raise_for_status(feed, response)
                payload = self._decode(feed, response)
                provider.check(feed, response, payload)
                pages.append(payload)
                more = provider.next_page(feed, response, payload)
                if use_validators:
                    self._remember_validators(url_key if more is None else None, response)
                if more is None:
                    break
                page_params = {**params, **more}
            else:
                raise ProviderError(provider.name, feed.name, f"more than {provider.max_pages} pages")
        assert first is not None, "a feed makes at least one request"
        return pages, first

    def _remember_validators(self, url_key: str | None, response: httpx.Response) -> None:
        etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
        self._validators = (url_key, etag, modified) if url_key and (etag or modified) else None

    async def _request(
        self, feed: FeedRequest, path: str, params: dict[str, str], url_key: str | None
    ) -> httpx.Response:
        headers, auth_params = self.provider.auth(self.settings)
        if url_key is not None and self._validators and self._validators[0] == url_key:
            _, etag, modified = self._validators
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
        self.state.requests += 1
        try:
            return await self.client.get(path, params={**params, **auth_params}, headers=headers)
        except httpx.TimeoutException as exc:
            self.state.breaker.record_failure()
            raise ProviderError(self.provider.name, feed.name, f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            self.state.breaker.record_failure()
            # The exception text may contain the URL with credentials in its query: keep only the type.
            reason = f"connection error ({type(exc).__name__})"
            raise ProviderError(self.provider.name, feed.name, reason) from None

    def _raise_for_status(self, feed_request: FeedRequest, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        name, feed = self.provider.name, feed_request.name
        if status == 429:
            delay = retry_after_s(response.headers, 5.0)
            raise ProviderError(name, feed, "rate limited", status=429, retry_after=delay)
        if status >= 500:
            self.state.breaker.record_failure()
            raise ProviderError(name, feed, "server error", status=status)
        if status == 401 and self.provider.unauthorized(feed_request):
            raise ProviderError(name, feed, "token refused; renewing it", status=401, retry_after=1.0)
        if status in (401, 403) and _mentions_quota(response):
            raise QuotaExhaustedError(name, feed, "provider reports the quota is used up", status=status,
                                      retriable=False, retry_after=3600.0)
        raise ProviderError(name, feed, "request refused", status=status, retriable=False)

    def _decode(self, feed: FeedRequest, response: httpx.Response) -> Any:
        if feed.content_type == "xml":
            return response.text
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            self.state.breaker.record_failure()
            raise ProviderError(self.provider.name, feed.name, "malformed or truncated JSON body",
                                status=response.status_code) from None

    async def _publish(self, parts: list[tuple[FeedRequest, str, Any]], received_at: Any) -> int:
        fresh: list[tuple[RawEnvelope, str, str, str | None]] = []
        for feed, key, part in parts:
            digest = content_hash(part)
            version = self.provider.version(feed, part)
            if self.seen.changed(key, digest) and not self.seen.stale(key, version):
                envelope = RawEnvelope(
                    provider=self.provider.name, feed=feed.feed, key=key, params=feed.envelope_params(),
                    received_at=received_at, content_type=feed.content_type, payload=part, content_hash=digest,
                )
                fresh.append((envelope, key, digest, version))
        if fresh:
            await self.publisher.publish([e for e, _, _, _ in fresh])
            for _, key, digest, version in fresh:  # only after Kafka acknowledged all of them
                self.seen.remember(key, digest, version)
        return len(fresh)

    def _result(self, published: int, live: bool, response: httpx.Response) -> PollResult:
        configured = self.provider.interval(self.feed, self.settings, live)
        interval = max(configured, max_age_s(response.headers) or 0.0)
        budget = self.state.budget
        if self.feed.feed != REFERENCE_FEED:  # a team list every few hours takes no share of the scores' budget
            budget.poll_cost(self.feed.name, self._cost, interval)
        quota_s = budget.min_interval_s(self.state.feeds)
        left = budget.left
        if quota_s > interval:
            ends = (budget.period_ends_at or budget.clock()) - budget.clock()
            self._paced("quota", quota_s, configured,
                        f"{left or 0:.0f} requests left, the quota resets in {ends / 3600:.1f} h; one poll of each "
                        f"of the key's {self.state.feeds} feeds costs {budget.round_cost(self.state.feeds):.0f}")
        elif self._pause_s > interval:
            self._paced("rate limit window", self._pause_s, configured, "the provider's short window is spent")
        else:
            self._paced(None, interval, configured, "")
        interval = max(interval, quota_s, self._pause_s)
        observe_poll_interval(self.provider.name, self.feed.name, interval, None if left is None else int(left))
        if self.monitor is not None:
            self.monitor.stretch(self.provider.name, self.feed.name, interval)  # health expects the paced beat
        return PollResult(published, live, interval)

    def _paced(self, reason: str | None, interval: float, configured: float, detail: str) -> None:
        """Log once when the feed starts (or stops) polling slower than configured, and why."""
        if reason == self.paced_by:
            return
        name = f"{self.provider.name}/{self.feed.name}"
        if reason is None:
            log.info("%s: polling at the configured %.1fs again", name, configured)
        else:
            log.warning("%s: %s pacing: polling every %.0fs instead of the configured %.1fs (%s)",
                        name, reason, interval, configured, detail)
        self.paced_by = reason


def _mentions_quota(response: httpx.Response) -> bool:
    text = response.text.lower()
    return "usage" in text or "quota" in text or "limit" in text
