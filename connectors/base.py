"""What a provider connector is: its feeds, its auth and how to cut a response into entities.

A provider module subclasses `HttpProvider`, overrides what differs, and exposes an instance
as `CONNECTOR`; `connectors.registry` finds it. Request pacing, retries and publishing are
shared (`connectors.poller`).

One poll of a feed is: the `requests()` of the feed (usually one; a dated feed asks for two
days around midnight), each followed through its pages (`next_page()`), the pages joined
(`combine()`), then any `follow_ups()` fetched the same way. Records are published only when
every one of those requests succeeded.

Reference data: `reference_feeds()` lists the provider's teams/participants/competitors endpoints
(feed slug `teams`, `meta["sport"]` the canonical sport of the list). They are polled by the same
poller (auth, pacing, quota, health) on a slow schedule (`PARAMS__REFERENCE_INTERVAL_S`, default 6 h),
each response published whole to `reference.teams` (`connectors.reference`) rather than cut into
entities for the raw topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import httpx

from runtime.settings import ProviderSettings
from schemas.providers import REFERENCE_FEED

REFERENCE_INTERVAL_S = 6 * 3600.0  # team lists change a few times a season


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """One polled endpoint: a feed in the sense of the issue (5,000 of them per process)."""

    provider: str
    feed: str  # normalizer slug, e.g. "odds"
    name: str  # unique within the provider, e.g. "odds:basketball_nba"
    path: str  # relative to the base URL, or absolute for a provider with several hosts
    params: Mapping[str, str] = field(default_factory=dict)  # non-secret query params
    live_interval_s: float = 10.0
    idle_interval_s: float = 60.0
    content_type: str = "json"
    # Params the normalizer needs that are not sent (e.g. the sport of a path); they travel in the envelope.
    meta: Mapping[str, str] = field(default_factory=dict)
    # A follow-up whose answer will not change any more (a finished race's results): fetched once per poller.
    final: bool = False

    def envelope_params(self) -> dict[str, str]:
        return {**self.params, **self.meta}


@dataclass(frozen=True, slots=True)
class Quota:
    remaining: int | None = None
    used: int | None = None
    resets_in_s: float | None = None
    # The provider's short window (e.g. per minute) is spent: wait at least this long.
    pause_s: float | None = None
    # What the request just answered cost (The Odds API: credits); None: one request.
    cost: float | None = None


def sports_days(now: datetime, zone: tzinfo, rollover_h: float) -> list[date]:
    """The provider-local dates a dated feed must ask for at `now`.

    A game that starts late runs past midnight; until `rollover_h` hours after midnight the
    previous day is asked for too, so its final score is not lost when the date changes.
    """
    local = now.astimezone(zone)
    today = local.date()
    if local - local.replace(hour=0, minute=0, second=0, microsecond=0) < timedelta(hours=rollover_h):
        return [today - timedelta(days=1), today]
    return [today]


class HttpProvider:
    """Defaults for a polled JSON provider; subclasses override what differs."""

    name: str = ""
    default_base_url: str = ""
    quota_period_s: float = 30 * 86400.0
    # The provider's documented refresh interval: we never poll a feed faster than this.
    min_interval_s: float = 1.0
    # Pause between the pages of one poll (providers with a per-second burst limit).
    page_interval_s: float = 0.0
    max_pages: int = 50

    def base_url(self, settings: ProviderSettings) -> str:
        return (settings.base_url or self.default_base_url).rstrip("/")

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        raise NotImplementedError

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """The provider's team lists (feed `teams`); none unless the provider module says where they are."""
        return []

    def reference_feed(self, name: str, path: str, sport: str, params: Mapping[str, str] | None = None,
                       **meta: str) -> FeedRequest:
        """A reference request: `sport` is the canonical sport of the teams it lists."""
        return FeedRequest(self.name, REFERENCE_FEED, f"{REFERENCE_FEED}:{name}", path, dict(params or {}),
                           live_interval_s=REFERENCE_INTERVAL_S, idle_interval_s=REFERENCE_INTERVAL_S,
                           meta={"sport": sport, **meta})

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query params) that authenticate a request. Never logged."""
        return {}, {}

    def requests(self, feed: FeedRequest) -> list[tuple[str, dict[str, str]]]:
        """The (path, query params) requests one poll of `feed` makes, before paging."""
        return [(feed.path, dict(feed.params))]

    def next_page(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> dict[str, str] | None:
        """Params to add to the request for the page after `payload`; None when it was the last."""
        return None

    def combine(self, feed: FeedRequest, pages: list[Any]) -> Any:
        """Join the pages (and requests) of one poll into one payload for `split`."""
        if len(pages) == 1:
            return pages[0]
        raise NotImplementedError(f"{self.name} pages but does not say how to join them")

    def follow_ups(self, feed: FeedRequest, payload: Any) -> list[FeedRequest]:
        """Further requests a response calls for within the same poll (e.g. a race's results)."""
        return []

    def unauthorized(self, feed: FeedRequest) -> bool:
        """The provider answered HTTP 401. True when this provider renews the credential itself (an OAuth
        token refreshed in the background), so the poll may be retried soon; False: the key is refused."""
        return False

    def check(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> None:
        """Raise ProviderError for failures a provider reports with a success status."""

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        """Cut a response into (entity key, payload the normalizer accepts) pairs."""
        return [(feed.name, payload)]

    def version(self, feed: FeedRequest, part: Any) -> str | None:
        """A sortable marker of how recent an entity is (its update time), if the provider has one.

        A part older than the last one published for its key is an out-of-order response and is dropped.
        """
        return None

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        """Whether anything in the response is in play (poll at the live cadence)."""
        return False

    def quota(self, headers: httpx.Headers) -> Quota:
        return Quota()

    def interval(self, feed: FeedRequest, settings: ProviderSettings, live: bool) -> float:
        if feed.feed == REFERENCE_FEED:  # not the scores' cadence, whatever POLL_LIVE_S says
            return max(self.min_interval_s, float(settings.params.get("reference_interval_s", feed.idle_interval_s)))
        configured = settings.poll_live_s if live else settings.poll_idle_s
        default = feed.live_interval_s if live else feed.idle_interval_s
        return max(self.min_interval_s, configured if configured is not None else default)
