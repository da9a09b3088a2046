"""What a provider connector is: its feeds, its auth and how to cut a response into entities.

A provider module subclasses `HttpProvider`, overrides what differs, and exposes an instance
as `CONNECTOR`; `connectors.registry` finds it. Request pacing, retries and publishing are
shared (`connectors.poller`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from pipeline.settings import ProviderSettings


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """One polled endpoint: a feed in the sense of the issue (5,000 of them per process)."""

    provider: str
    feed: str  # normalizer slug, e.g. "odds"
    name: str  # unique within the provider, e.g. "odds:basketball_nba"
    path: str
    params: Mapping[str, str] = field(default_factory=dict)  # non-secret query params
    live_interval_s: float = 10.0
    idle_interval_s: float = 60.0
    content_type: str = "json"


@dataclass(frozen=True, slots=True)
class Quota:
    remaining: int | None = None
    used: int | None = None
    resets_in_s: float | None = None


class HttpProvider:
    """Defaults for a polled JSON provider; subclasses override what differs."""

    name: str = ""
    default_base_url: str = ""
    quota_period_s: float = 30 * 86400.0
    # The provider's documented refresh interval: we never poll a feed faster than this.
    min_interval_s: float = 1.0

    def base_url(self, settings: ProviderSettings) -> str:
        return (settings.base_url or self.default_base_url).rstrip("/")

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        raise NotImplementedError

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query params) that authenticate a request. Never logged."""
        return {}, {}

    def check(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> None:
        """Raise ProviderError for failures a provider reports with a success status."""

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        """Cut a response into (entity key, payload the normalizer accepts) pairs."""
        return [(feed.name, payload)]

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        """Whether anything in the response is in play (poll at the live cadence)."""
        return False

    def quota(self, headers: httpx.Headers) -> Quota:
        return Quota()

    def interval(self, feed: FeedRequest, settings: ProviderSettings, live: bool) -> float:
        configured = settings.poll_live_s if live else settings.poll_idle_s
        default = feed.live_interval_s if live else feed.idle_interval_s
        return max(self.min_interval_s, configured if configured is not None else default)
