"""API-Sports (https://api-sports.io): api-football v3, api-basketball v1, api-formula-1 v1.

- One provider, three hosts. Each has a base-URL setting with the real default
  (`PARAMS__FOOTBALL_BASE_URL`, `PARAMS__BASKETBALL_BASE_URL`, `PARAMS__FORMULA1_BASE_URL`);
  when only `BASE_URL` is set (the simulator) it serves all three.
- Auth: header `x-apisports-key`. A wrong key still answers HTTP 200, with `errors.token`.
- Every body is `{get, parameters, errors, results, paging{current,total}, response[]}`.
  Errors come with HTTP 200 in `errors`; `check()` raises them: `rateLimit` (per-minute) and
  `requests` (the day's quota) are retriable later, `token`/`plan`/parameter errors are not.
  Paged endpoints are followed with `page=` while `paging.current < paging.total`.
- Quota headers: `x-ratelimit-requests-remaining`/`-limit` per day (resets 00:00 UTC) and
  `X-RateLimit-Remaining` per minute; live data refreshes every 15 s.
- Feeds: `football-fixtures` (`/fixtures?live=all` and the day's `/fixtures?date=`; modes in
  `PARAMS__FOOTBALL`, default `live,date`), `basketball-games` (`/games?date=`), and
  `formula1-races` (`/races?season=`, then `/rankings/races?race=` for a race in progress or
  finished in the last `PARAMS__FORMULA1_RESULTS_DAYS` days, default 7; a finished race's
  results are fetched once per poller). Dates are UTC days; until `PARAMS__DAY_ROLLOVER_H`
  (default 4) hours after midnight the previous day is asked for too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.base import FeedRequest, HttpProvider, Quota, sports_days
from connectors.errors import ProviderError, QuotaExhaustedError
from runtime.settings import ProviderSettings

HOSTS = {
    "football": "https://v3.football.api-sports.io",
    "basketball": "https://v1.basketball.api-sports.io",
    "formula1": "https://v1.formula-1.api-sports.io",
}
DEFAULT_FEEDS = ("football-fixtures", "basketball-games", "formula1-races")
FOOTBALL_LIVE = frozenset({"1H", "HT", "2H", "ET", "BT", "P", "LIVE", "INT"})
BASKETBALL_LIVE = frozenset({"Q1", "Q2", "Q3", "Q4", "OT", "BT", "HT"})
F1_RACE_TYPES = {"Race": "", "Sprint": " (Sprint)"}
# `errors` keys that say "not now" rather than "never": the per-minute and the daily limit.
RATE_LIMIT_ERROR, DAILY_QUOTA_ERROR = "ratelimit", "requests"


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _until_utc_midnight(now: datetime) -> float:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60.0, (midnight - now).total_seconds())


def _items(payload: Any) -> list[Any]:
    response = payload.get("response") if isinstance(payload, dict) else None
    return response if isinstance(response, list) else []


class ApiSports(HttpProvider):
    name = "apisports"
    default_base_url = HOSTS["football"]
    quota_period_s = 86400.0  # daily quota, reset at 00:00 UTC
    min_interval_s = 15.0  # live data refreshes every 15 s

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rollover_h = 4.0
        self.results_days = 7.0

    def host(self, settings: ProviderSettings, sport: str) -> str:
        return (settings.params.get(f"{sport}_base_url") or settings.base_url or HOSTS[sport]).rstrip("/")

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        params = settings.params
        wanted = settings.feeds or list(DEFAULT_FEEDS)
        self.rollover_h = float(params.get("day_rollover_h", self.rollover_h))
        self.results_days = float(params.get("formula1_results_days", self.results_days))
        feeds: list[FeedRequest] = []
        if "football-fixtures" in wanted:
            fixtures = f"{self.host(settings, 'football')}/fixtures"
            modes = [m.strip() for m in params.get("football", "live,date").split(",")]
            if "live" in modes:
                feeds.append(FeedRequest(self.name, "football-fixtures", "football-fixtures:live", fixtures,
                                         {"live": "all"}, live_interval_s=15.0, idle_interval_s=60.0))
            if "date" in modes:
                feeds.append(FeedRequest(self.name, "football-fixtures", "football-fixtures:date", fixtures,
                                         live_interval_s=60.0, idle_interval_s=600.0))
        if "basketball-games" in wanted:
            games = f"{self.host(settings, 'basketball')}/games"
            feeds.append(FeedRequest(self.name, "basketball-games", "basketball-games:date", games,
                                     live_interval_s=15.0, idle_interval_s=600.0))
        if "formula1-races" in wanted:
            season = params.get("formula1_season", str(self.clock().year))
            races = f"{self.host(settings, 'formula1')}/races"
            feeds.append(FeedRequest(self.name, "formula1-races", f"formula1-races:{season}", races,
                                     {"season": season}, live_interval_s=15.0, idle_interval_s=900.0))
        return feeds

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """`/teams?league=&season=` per league of `PARAMS__FOOTBALL_LEAGUES` (default 39, the Premier League)
        and `PARAMS__BASKETBALL_LEAGUES` (default 12, the NBA); Formula 1's `/teams`. Seasons start in July:
        football names one by its first year, basketball `2024-2025` (`PARAMS__FOOTBALL_SEASON`,
        `PARAMS__BASKETBALL_SEASON`)."""
        params, now = settings.params, self.clock()
        first = now.year - (1 if now.month < 7 else 0)
        football = params.get("football_season", str(first))
        basketball = params.get("basketball_season", f"{first}-{first + 1}")
        feeds = [self.reference_feed(f"football:{league}", f"{self.host(settings, 'football')}/teams", "soccer",
                                     {"league": league, "season": football})
                 for league in (x.strip() for x in params.get("football_leagues", "39").split(",")) if league]
        feeds += [self.reference_feed(f"basketball:{league}", f"{self.host(settings, 'basketball')}/teams",
                                      "basketball", {"league": league, "season": basketball})
                  for league in (x.strip() for x in params.get("basketball_leagues", "12").split(",")) if league]
        feeds.append(self.reference_feed("formula1", f"{self.host(settings, 'formula1')}/teams", "motorsport"))
        return feeds

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        return {"x-apisports-key": key}, {}

    def requests(self, feed: FeedRequest) -> list[tuple[str, dict[str, str]]]:
        if not feed.name.endswith(":date"):
            return [(feed.path, dict(feed.params))]
        days = sports_days(self.clock(), UTC, self.rollover_h)
        return [(feed.path, {**feed.params, "date": day.isoformat()}) for day in days]

    def check(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> None:
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if not errors:
            return
        # Name the failing fields only: the provider's text is not ours to vouch for in logs.
        fields = sorted(errors) if isinstance(errors, dict) else ["errors"]
        reason = f"provider error in `errors`: {', '.join(fields)}"
        lowered = {f.lower() for f in fields}
        if DAILY_QUOTA_ERROR in lowered:
            raise QuotaExhaustedError(self.name, feed.name, reason, status=response.status_code, retriable=True,
                                      retry_after=_until_utc_midnight(self.clock()))
        if RATE_LIMIT_ERROR in lowered:
            raise ProviderError(self.name, feed.name, reason, status=response.status_code, retry_after=60.0)
        raise ProviderError(self.name, feed.name, reason, status=response.status_code, retriable=False)

    def next_page(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> dict[str, str] | None:
        paging = payload.get("paging") if isinstance(payload, dict) else None
        if not isinstance(paging, dict):
            return None
        current, total = paging.get("current"), paging.get("total")
        if isinstance(current, int) and isinstance(total, int) and current < total:
            return {"page": str(current + 1)}
        return None

    def combine(self, feed: FeedRequest, pages: list[Any]) -> Any:
        if len(pages) == 1:
            return pages[0]
        items = [item for page in pages for item in _items(page)]
        return {**pages[0], "results": len(items), "response": items}

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        if not isinstance(payload, dict) or "response" not in payload:
            return [(feed.name, payload)]  # let the normalizer reject it with a located error
        items = _items(payload)
        if feed.name.startswith("formula1-races:rankings:"):
            return [(f"formula-1:{feed.params['race']}", items)] if items else []
        if feed.feed == "formula1-races":
            return [(f"formula-1:{item.get('id')}", item) for item in items
                    if isinstance(item, dict) and item.get("type") in F1_RACE_TYPES and not self._needs_results(item)]
        sport = "football" if feed.feed == "football-fixtures" else "basketball"
        parts: list[tuple[str, Any]] = []
        for i, item in enumerate(items):
            info = item.get("fixture", item) if isinstance(item, dict) else None
            entity = info.get("id") if isinstance(info, dict) else None
            parts.append((f"{sport}:{entity}" if entity is not None else f"{feed.name}:{i}", item))
        return parts

    def _needs_results(self, race: dict[str, Any]) -> bool:
        """In progress, or finished recently: its results come from `rankings/races`."""
        if race.get("type") not in F1_RACE_TYPES:
            return False
        if race.get("status") == "Live":
            return True
        try:
            start = datetime.fromisoformat(str(race.get("date")))
        except ValueError:
            return False
        return race.get("status") == "Completed" and self.clock() - start < timedelta(days=self.results_days)

    def follow_ups(self, feed: FeedRequest, payload: Any) -> list[FeedRequest]:
        if feed.feed != "formula1-races" or feed.name.startswith("formula1-races:rankings:"):
            return []
        rankings = feed.path.removesuffix("/races") + "/rankings/races"
        follow: list[FeedRequest] = []
        for race in _items(payload):
            if not isinstance(race, dict) or not self._needs_results(race):
                continue
            competition = race.get("competition") or {}
            meta = {"_race_name": f"{competition.get('name', '')}{F1_RACE_TYPES[race['type']]}",
                    "_race_start": str(race.get("date")), "_season": str(race.get("season")),
                    "_race_status": str(race.get("status"))}
            follow.append(FeedRequest(self.name, "formula1-races", f"formula1-races:rankings:{race.get('id')}",
                                      rankings, {"race": str(race.get("id"))}, meta=meta,
                                      final=race.get("status") == "Completed"))
        return follow

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        for item in _items(payload):
            if not isinstance(item, dict):
                continue
            if feed.feed == "formula1-races":
                status = item.get("status")
            else:
                holder = item.get("fixture", item)
                status = (holder.get("status") or {}).get("short") if isinstance(holder, dict) else None
            if status == "Live" or status in FOOTBALL_LIVE or status in BASKETBALL_LIVE:
                return True
        return False

    def quota(self, headers: httpx.Headers) -> Quota:
        per_minute = _int(headers.get("x-ratelimit-remaining"))
        return Quota(remaining=_int(headers.get("x-ratelimit-requests-remaining")),
                     resets_in_s=_until_utc_midnight(self.clock()),
                     pause_s=60.0 if per_minute is not None and per_minute <= 0 else None)


CONNECTOR = ApiSports()
