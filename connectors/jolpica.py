"""Jolpica-F1 (https://github.com/jolpica/jolpica-f1), the Ergast-compatible F1 API.

- No auth. Limits: 4 requests/s burst and 500/hour; over them it answers HTTP 429 with
  `Retry-After`. Each feed polls no faster than its share of 450 requests/hour, and pages of
  one poll are 0.25 s apart.
- Feeds (`results`): `results:last` (`/ergast/f1/current/last/results.json`) and one per entry
  of `PARAMS__SEASONS` (`2025` for a season, `2025/3` for one round).
- Paging: `limit` (at most 100, `PARAMS__PAGE_LIMIT`) and `offset`; `MRData.total` counts
  result rows, so a race's results can straddle two pages. All pages are fetched and the
  races joined again before one raw record per race (`f1:{season}:{round}`) is published.
- Results appear once a race is over: nothing here is live.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import FeedRequest, HttpProvider
from runtime.settings import ProviderSettings

HOURLY_LIMIT = 500
HOURLY_BUDGET = 450  # headroom under the limit for restarts and retries
MAX_PAGE_LIMIT = 100


def _mrdata(payload: Any) -> dict[str, Any]:
    body = payload.get("MRData") if isinstance(payload, dict) else None
    return body if isinstance(body, dict) else {}


def _races(payload: Any) -> list[dict[str, Any]]:
    table = _mrdata(payload).get("RaceTable")
    races = table.get("Races") if isinstance(table, dict) else None
    return [r for r in races if isinstance(r, dict)] if isinstance(races, list) else []


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _body(mrdata: dict[str, Any], races: list[dict[str, Any]]) -> dict[str, Any]:
    """An MRData body holding whole races: its row counters say nothing was cut."""
    rows = str(sum(len(r.get("Results") or []) for r in races))
    table = {**(mrdata.get("RaceTable") or {}), "Races": races}
    return {"MRData": {**mrdata, "limit": rows, "offset": "0", "total": rows, "RaceTable": table}}


class Jolpica(HttpProvider):
    name = "jolpica"
    default_base_url = "https://api.jolpi.ca"
    quota_period_s = 3600.0
    min_interval_s = 3600.0 / HOURLY_BUDGET
    page_interval_s = 0.25  # the burst limit is 4 requests/s

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        limit = str(min(MAX_PAGE_LIMIT, int(settings.params.get("page_limit", str(MAX_PAGE_LIMIT)))))
        feeds = [FeedRequest(self.name, "results", "results:last", "/ergast/f1/current/last/results.json",
                             {"limit": limit}, live_interval_s=300.0, idle_interval_s=300.0)]
        for entry in (s.strip() for s in settings.params.get("seasons", "").split(",")):
            if entry:
                feeds.append(FeedRequest(self.name, "results", f"results:{entry}", f"/ergast/f1/{entry}/results.json",
                                         {"limit": limit}, live_interval_s=900.0, idle_interval_s=900.0))
        return feeds

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """The season's constructors and drivers (`/ergast/f1/{season}/constructors.json`, `.../drivers.json`)."""
        season = settings.params.get("reference_season", "current")
        return [self.reference_feed(f"{kind}:{season}", f"/ergast/f1/{season}/{kind}.json", "motorsport",
                                    {"limit": str(MAX_PAGE_LIMIT)}) for kind in ("constructors", "drivers")]

    def next_page(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> dict[str, str] | None:
        mr = _mrdata(payload)
        limit, offset, total = _number(mr.get("limit")), _number(mr.get("offset")), _number(mr.get("total"))
        if limit > 0 and total > offset + limit:
            return {"offset": str(offset + limit), "limit": str(limit)}
        return None

    def combine(self, feed: FeedRequest, pages: list[Any]) -> Any:
        """Join pages, putting back together a race whose results straddle two of them."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for page in pages:
            for race in _races(page):
                key = (str(race.get("season")), str(race.get("round")))
                if key in merged:
                    merged[key]["Results"] = [*merged[key].get("Results", []), *(race.get("Results") or [])]
                else:
                    merged[key] = {**race, "Results": list(race.get("Results") or [])}
        return _body(_mrdata(pages[0]), list(merged.values()))

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        mr = _mrdata(payload)
        if not mr:
            return [(feed.name, payload)]  # let the normalizer reject it with a located error
        series = str(mr.get("series", "f1"))
        return [(f"{series}:{race.get('season')}:{race.get('round')}", _body(mr, [race])) for race in _races(payload)]

    def interval(self, feed: FeedRequest, settings: ProviderSettings, live: bool) -> float:
        # Every feed of the provider shares the hourly limit.
        # (The team lists, two requests every few hours, fit in the headroom under the limit.)
        share = len(self.feeds(settings)) * 3600.0 / HOURLY_BUDGET
        return max(share, super().interval(feed, settings, live))


CONNECTOR = Jolpica()
