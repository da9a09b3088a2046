"""The Odds API v4 (https://the-odds-api.com/liveapi/guides/v4/).

- Auth: `apiKey` query parameter only.
- Quota: every response carries `x-requests-remaining`, `x-requests-used`, `x-requests-last`;
  credits are monthly. `/odds` costs markets x regions, `/scores` 1 (2 with `daysFrom`).
- Scores refresh about every 30 s; odds per bookmaker. Responses are arrays of events, cut
  here into one raw record per event (keyed by the event id).

Settings (`SPORTSFLOW_PROVIDERS__THEODDSAPI__...`): `API_KEY`, `BASE_URL`, `FEEDS` (odds,
scores), `PARAMS__SPORTS` (comma separated sport keys), `PARAMS__REGIONS`, `PARAMS__MARKETS`,
`PARAMS__ODDS_FORMAT`, `POLL_LIVE_S`, `POLL_IDLE_S`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.base import FeedRequest, HttpProvider, Quota
from runtime.settings import ProviderSettings
from schemas.providers.theoddsapi import sport_of


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


class TheOddsApi(HttpProvider):
    name = "theoddsapi"
    default_base_url = "https://api.the-odds-api.com"
    quota_period_s = 30 * 86400.0
    min_interval_s = 1.0

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        params = settings.params
        sports = [s.strip() for s in params.get("sports", "americanfootball_nfl,basketball_nba").split(",") if s]
        wanted = settings.feeds or ["odds", "scores"]
        odds_params = {
            "regions": params.get("regions", "us"),
            "markets": params.get("markets", "h2h,spreads,totals"),
            "oddsFormat": params.get("odds_format", "decimal"),
        }
        feeds: list[FeedRequest] = []
        for sport in sports:
            if "odds" in wanted:
                feeds.append(FeedRequest(
                    self.name, "odds", f"odds:{sport}", f"/v4/sports/{sport}/odds", odds_params,
                    live_interval_s=10.0, idle_interval_s=60.0,
                ))
            if "scores" in wanted:
                feeds.append(FeedRequest(
                    self.name, "scores", f"scores:{sport}", f"/v4/sports/{sport}/scores", {"daysFrom": "1"},
                    live_interval_s=30.0, idle_interval_s=300.0,
                ))
        return feeds

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """`/v4/sports/{sport}/participants` per sport key (1 credit each)."""
        sports = [s.strip() for s in settings.params.get("sports", "americanfootball_nfl,basketball_nba").split(",")
                  if s.strip()]
        return [self.reference_feed(sport, f"/v4/sports/{sport}/participants", str(sport_of(sport)))
                for sport in sports]

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        return {}, {"apiKey": key}

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        if not isinstance(payload, list):
            return [(feed.name, payload)]  # let the normalizer reject it with a located error
        return [(str(item.get("id", f"{feed.name}:{i}")) if isinstance(item, dict) else f"{feed.name}:{i}", [item])
                for i, item in enumerate(payload)]

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        now = datetime.now(UTC).isoformat()
        return isinstance(payload, list) and any(
            isinstance(e, dict) and str(e.get("commence_time", "9999")) <= now and not e.get("completed", False)
            for e in payload
        )

    def quota(self, headers: httpx.Headers) -> Quota:
        return Quota(remaining=_int(headers.get("x-requests-remaining")), used=_int(headers.get("x-requests-used")),
                     cost=_int(headers.get("x-requests-last")))


CONNECTOR = TheOddsApi()
