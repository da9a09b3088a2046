"""SportsDataIO (https://sportsdata.io/developers/api-documentation): v3 US leagues, v4 soccer.

- Auth: header `Ocp-Apim-Subscription-Key` (the `key=` query form is avoided: URLs get logged).
- Feeds, per sport in `PARAMS__SPORTS` (nfl, nba, mlb, nhl):
  `scores` (NFL `/v3/nfl/scores/json/ScoresByDate/{date}`, others `.../GamesByDate/{date}`),
  `odds` (`/v3/{sport}/odds/json/GameOddsByDate/{date}`), `live-odds` (`LiveGameOddsByDate`,
  published as the `odds` feed); per competition in `PARAMS__COMPETITIONS` (e.g. EPL):
  `soccer-scores` (`/v4/soccer/scores/json/ScoresBasic/{competition}/{date}`).
- Dates are US-Eastern days written `2017-JUL-31`. Around midnight the previous day is asked
  for too (`PARAMS__DAY_ROLLOVER_H`, default 4 h), so a late game's final score is not lost.
- Responses are CDN-cached (`Cache-Control: max-age=5`); the poller never polls faster. No quota
  headers: plans limit calls per month, an exhausted plan answers 403 "Out of call volume quota".
- Every game carries `Updated` (Eastern wall time, same format everywhere), used to drop an
  older snapshot served after a newer one.

Settings (`SPORTSFLOW_PROVIDERS__SPORTSDATAIO__...`): `API_KEY`, `BASE_URL`, `FEEDS` (scores,
odds, live-odds, soccer-scores), `PARAMS__SPORTS`, `PARAMS__COMPETITIONS`,
`PARAMS__DAY_ROLLOVER_H`, `POLL_LIVE_S`, `POLL_IDLE_S`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import FeedRequest, HttpProvider, sports_days
from runtime.settings import ProviderSettings
from schemas.providers import REFERENCE_FEED
from schemas.providers.sportsdataio import SPORTS
from schemas.timeutil import US_EASTERN

DEFAULT_FEEDS = ("scores", "odds", "live-odds", "soccer-scores")
# Per sport, the v3 endpoint that lists one day's games with scores.
SCORES_ENDPOINT = {"nfl": "ScoresByDate", "nba": "GamesByDate", "mlb": "GamesByDate", "nhl": "GamesByDate"}
# `Status` values of a game in play; the closed flags end it whatever the status says.
IN_PLAY = frozenset({"inprogress"})
CLOSED_FLAGS = ("IsClosed", "Closed", "IsOver")


def path_date(day: date) -> str:
    """SportsDataIO's date segment: `2017-JUL-31`."""
    return day.strftime("%Y-%b-%d").upper()


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _field(item: dict[str, Any], name: str) -> Any:
    """A field whatever its casing (`GameID` in v3, `GameId` in v4)."""
    lowered = name.lower()
    return next((v for k, v in item.items() if k.lower() == lowered), None)


class SportsDataIO(HttpProvider):
    name = "sportsdataio"
    default_base_url = "https://api.sportsdata.io"
    quota_period_s = 30 * 86400.0
    min_interval_s = 5.0  # the CDN's max-age

    def __init__(self, clock: Callable[[], datetime] | None = None, rollover_h: float = 4.0) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rollover_h = rollover_h

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        params = settings.params
        wanted = settings.feeds or list(DEFAULT_FEEDS)
        self.rollover_h = float(params.get("day_rollover_h", self.rollover_h))
        feeds: list[FeedRequest] = []
        for sport in _csv(params.get("sports", "nfl,nba,mlb,nhl")):
            meta = {"sport": sport}
            if "scores" in wanted:
                path = f"/v3/{sport}/scores/json/{SCORES_ENDPOINT.get(sport, 'GamesByDate')}/{{date}}"
                feeds.append(FeedRequest(self.name, "scores", f"scores:{sport}", path, meta=meta,
                                         live_interval_s=5.0, idle_interval_s=300.0))
            if "odds" in wanted:
                path = f"/v3/{sport}/odds/json/GameOddsByDate/{{date}}"
                feeds.append(FeedRequest(self.name, "odds", f"odds:{sport}", path, meta=meta,
                                         live_interval_s=30.0, idle_interval_s=300.0))
            if "live-odds" in wanted:
                path = f"/v3/{sport}/odds/json/LiveGameOddsByDate/{{date}}"
                feeds.append(FeedRequest(self.name, "odds", f"live-odds:{sport}", path, meta=meta,
                                         live_interval_s=5.0, idle_interval_s=300.0))
        if "soccer-scores" in wanted:
            for competition in _csv(params.get("competitions", "EPL")):
                path = f"/v4/soccer/scores/json/ScoresBasic/{competition}/{{date}}"
                feeds.append(FeedRequest(self.name, "soccer-scores", f"soccer-scores:{competition}", path,
                                         meta={"competition": competition}, live_interval_s=5.0,
                                         idle_interval_s=300.0))
        return feeds

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """Teams (Active) per league, `/v3/{sport}/scores/json/teams`; soccer per competition,
        `/v4/soccer/scores/json/Teams/{competition}`."""
        params = settings.params
        feeds = [self.reference_feed(sport, f"/v3/{sport}/scores/json/teams", SPORTS[sport][0])
                 for sport in _csv(params.get("sports", "nfl,nba,mlb,nhl")) if sport in SPORTS]
        feeds += [self.reference_feed(f"soccer:{c}", f"/v4/soccer/scores/json/Teams/{c}", "soccer", competition=c)
                  for c in _csv(params.get("competitions", "EPL"))]
        return feeds

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        return {"Ocp-Apim-Subscription-Key": key}, {}

    def requests(self, feed: FeedRequest) -> list[tuple[str, dict[str, str]]]:
        if feed.feed == REFERENCE_FEED:
            return [(feed.path, dict(feed.params))]
        days = sports_days(self.clock(), US_EASTERN, self.rollover_h)
        return [(feed.path.replace("{date}", path_date(day)), dict(feed.params)) for day in days]

    def combine(self, feed: FeedRequest, pages: list[Any]) -> Any:
        if len(pages) == 1:
            return pages[0]
        return [item for page in pages if isinstance(page, list) for item in page]

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        if not isinstance(payload, list):
            return [(feed.name, payload)]  # let the normalizer reject it with a located error
        prefix = "soccer" if feed.feed == "soccer-scores" else feed.meta.get("sport", "")
        parts: list[tuple[str, Any]] = []
        for i, item in enumerate(payload):
            game_id = (_field(item, "GameID") or _field(item, "ScoreID")) if isinstance(item, dict) else None
            parts.append((f"{prefix}:{game_id}" if game_id is not None else f"{feed.name}:{i}", [item]))
        return parts

    def version(self, feed: FeedRequest, part: Any) -> str | None:
        item = part[0] if isinstance(part, list) and part and isinstance(part[0], dict) else None
        updated = (_field(item, "UpdatedUtc") or _field(item, "Updated")) if item else None
        return str(updated) if updated else None

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        return isinstance(payload, list) and any(
            isinstance(game, dict) and str(_field(game, "Status") or "").lower() in IN_PLAY
            and not any(_field(game, flag) for flag in CLOSED_FLAGS)
            for game in payload
        )


CONNECTOR = SportsDataIO()
