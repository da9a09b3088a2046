"""Sportradar: polled Sports Data REST feeds, the Unified Odds Feed (AMQP) and HTTP push streams.

REST (https://api.sportradar.com, header `x-api-key`):
- `soccer-summary`: `/soccer/{access_level}/v4/{lang}/sport_events/{urn}/summary.json`, one feed per URN;
- `soccer-schedule`: `/soccer/{access_level}/v4/{lang}/schedules/{date|live}/summaries.json`, cut into one
  record per match (the normalizer takes a single schedule item);
- `nba-summary`: `/nba/{access_level}/v8/{lang}/games/{id}/summary.json`;
- `nba-schedule`: `/nba/{access_level}/v8/{lang}/games/{yyyy}/{mm}/{dd}/schedule.json`, one record per game.
Freshness comes from `Cache-Control: max-age` (the poller honours it); quota from `X-Plan-Quota-*`.

Unified Odds Feed (AMQP 0.9.1 over TLS): vhost `/unifiedfeed/{bookmaker_id}`, exchange `unifiedfeed`, a
durable named queue (`uof_queue`, dropped by the broker after an hour unused) bound to `uof_bindings`.
Login: the UOF access token (`client_secret`) as username with a blank password; a broker with ordinary
users (the local stack) takes `amqp_username` + `client_secret` as password. Routing keys
`{prio}.{pre}.{live}.{type}.{sport}.{urn type}.{id}.{node}`: each message becomes one raw record (feed
`uof`, XML) keyed by the event URN; `alive` and `snapshot_complete` are not published. A `UofSession`
(connectors/uof.py) keeps each producer's state and asks the UOF REST API (`uof_api_url`, header
`x-access-token`) for recovery on connect, after a gap and on `subscribed="0"`.

HTTP push (`push` param: soccer and/or nba): `/{sport}/{access_level}/stream/events/subscribe`, JSON lines
`{"payload", "metadata"}` or `{"heartbeat": ...}`. Payloads carrying a whole summary are published as
`soccer-summary`/`nba-summary`; after a reconnect every event seen on the stream is polled once from REST.

Settings `SPORTSFLOW_PROVIDERS__SPORTRADAR__...`: `API_KEY`, `BASE_URL`, `FEEDS`, `CLIENT_SECRET` (UOF token),
`PARAMS__ACCESS_LEVEL` (trial), `PARAMS__LANG` (en), `PARAMS__SOCCER_EVENTS`, `PARAMS__SOCCER_SCHEDULE`
(a date or `live`), `PARAMS__NBA_GAMES`, `PARAMS__NBA_SCHEDULE` (a date), `PARAMS__UOF_HOST`, `..._UOF_PORT`,
`..._UOF_TLS`, `..._UOF_VHOST`, `..._UOF_BINDINGS`, `..._UOF_QUEUE`, `..._UOF_API_URL`, `..._UOF_PRODUCERS`
(1,3), `..._AMQP_USERNAME`, `..._PUSH`, `..._PUSH_BASE_URL`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import SecretStr

from connectors.amqp import AmqpConsumer, AmqpEndpoint, Delivery, Handled
from connectors.base import FeedRequest, HttpProvider, Quota
from connectors.health import HealthMonitor
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import RawPublisher
from connectors.push_stream import HttpPushStream, PushFeed, StreamLine
from connectors.uof import FixtureCache, UofSession
from runtime.settings import ProviderSettings
from schemas.envelope import RawEnvelope
from schemas.providers.sportradar_uof import LAST_ODDS_PARAM
from schemas.timeutil import utc_now

PROVIDER = "sportradar"
UOF_EXCHANGE = "unifiedfeed"
UOF_API_URL = "https://api.betradar.com"
UOF_ALIVE_S = 10.0  # producers send `alive` every 10 s; none for a few intervals means the feed is broken
SOCCER_LIVE = frozenset({"live", "started"})
NBA_LIVE = frozenset({"inprogress", "halftime"})


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _day(value: str) -> date:
    return datetime.now(UTC).date() if value in ("", "today") else date.fromisoformat(value)


class Sportradar(HttpProvider):
    name = PROVIDER
    default_base_url = "https://api.sportradar.com"
    min_interval_s = 1.0

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        p = settings.params
        soccer = f"/soccer/{p.get('access_level', 'trial')}/v4/{p.get('lang', 'en')}"
        nba = f"/nba/{p.get('access_level', 'trial')}/v8/{p.get('lang', 'en')}"
        wanted = settings.feeds or ["soccer-summary", "soccer-schedule", "nba-summary", "nba-schedule"]
        feeds: list[FeedRequest] = []
        if "soccer-summary" in wanted:
            feeds += [FeedRequest(PROVIDER, "soccer-summary", f"soccer-summary:{urn}",
                                  f"{soccer}/sport_events/{urn}/summary.json", live_interval_s=2.0,
                                  idle_interval_s=60.0) for urn in _csv(p.get("soccer_events"))]
        if "soccer-schedule" in wanted:
            when = p.get("soccer_schedule", "live")
            day = "live" if when == "live" else _day(when).isoformat()
            feeds.append(FeedRequest(PROVIDER, "soccer-schedule", f"soccer-schedule:{day}",
                                     f"{soccer}/schedules/{day}/summaries.json", live_interval_s=10.0,
                                     idle_interval_s=60.0))
        if "nba-summary" in wanted:
            feeds += [FeedRequest(PROVIDER, "nba-summary", f"nba-summary:{game}", f"{nba}/games/{game}/summary.json",
                                  live_interval_s=2.0, idle_interval_s=60.0) for game in _csv(p.get("nba_games"))]
        if "nba-schedule" in wanted:
            day_ = _day(p.get("nba_schedule", "today"))
            feeds.append(FeedRequest(PROVIDER, "nba-schedule", f"nba-schedule:{day_.isoformat()}",
                                     f"{nba}/games/{day_.year}/{day_.month:02d}/{day_.day:02d}/schedule.json",
                                     live_interval_s=10.0, idle_interval_s=120.0))
        return feeds

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """Soccer: `/seasons/{season}/competitors.json` per season URN of `PARAMS__SOCCER_SEASONS`; NBA:
        `/league/hierarchy.json` (every team with market, name and alias) unless `PARAMS__NBA_TEAMS=off`."""
        p = settings.params
        soccer = f"/soccer/{p.get('access_level', 'trial')}/v4/{p.get('lang', 'en')}"
        nba = f"/nba/{p.get('access_level', 'trial')}/v8/{p.get('lang', 'en')}"
        feeds = [self.reference_feed(f"soccer:{season}", f"{soccer}/seasons/{season}/competitors.json", "soccer")
                 for season in _csv(p.get("soccer_seasons"))]
        if p.get("nba_teams", "on") != "off":
            feeds.append(self.reference_feed("nba", f"{nba}/league/hierarchy.json", "basketball"))
        return feeds

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        return {"x-api-key": key}, {}

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        whole = [(feed.name, payload)]  # what the normalizer gets when the shape is not the expected one
        if not isinstance(payload, dict):
            return whole
        if feed.feed == "soccer-summary":
            return [(_urn(payload) or feed.name, payload)]
        if feed.feed == "nba-summary":
            return [(str(payload.get("id", feed.name)), payload)]
        items = payload.get("summaries", payload.get("schedules")) if feed.feed == "soccer-schedule" else None
        if isinstance(items, list):
            return [(_urn(item) or f"{feed.name}:{i}", item) for i, item in enumerate(items)]
        games = payload.get("games") if feed.feed == "nba-schedule" else None
        if isinstance(games, list):
            league = payload.get("league")
            return [(str(g.get("id", f"{feed.name}:{i}")) if isinstance(g, dict) else f"{feed.name}:{i}",
                     {"league": league, "games": [g]}) for i, g in enumerate(games)]
        return whole

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        if not isinstance(payload, dict):
            return False
        if feed.feed.startswith("soccer"):
            items = payload.get("summaries") or payload.get("schedules") or [payload]
            return any(isinstance(i, dict) and (i.get("sport_event_status") or {}).get("status") in SOCCER_LIVE
                       for i in items)
        games = payload.get("games") or [payload]
        return any(isinstance(g, dict) and g.get("status") in NBA_LIVE for g in games)

    def quota(self, headers: httpx.Headers) -> Quota:
        allotted = _int(headers.get("x-plan-quota-allotted") or headers.get("x-packagekey-quota-allotted"))
        used = _int(headers.get("x-plan-quota-current") or headers.get("x-packagekey-quota-current"))
        remaining = allotted - used if allotted is not None and used is not None else None
        return Quota(remaining=remaining, used=used)

    def push_feeds(
        self, settings: ProviderSettings, publisher: RawPublisher, monitor: HealthMonitor, client: httpx.AsyncClient,
    ) -> list[PushFeed]:
        feeds: list[PushFeed] = []
        if settings.params.get("uof_host"):
            feeds += uof_feeds(settings, publisher, monitor)
        for sport in _csv(settings.params.get("push")):
            feeds.append(push_stream(self, sport, settings, publisher=publisher, monitor=monitor, client=client))
        return feeds


def _urn(item: Any) -> str | None:
    event = item.get("sport_event") if isinstance(item, dict) else None
    return str(event["id"]) if isinstance(event, dict) and "id" in event else None


# --- Unified Odds Feed ---------------------------------------------------------------------------


def uof_endpoint(settings: ProviderSettings) -> AmqpEndpoint:
    p = settings.params
    token = settings.client_secret or settings.api_key or SecretStr("")
    username, password = (p["amqp_username"], token) if p.get("amqp_username") else (token.get_secret_value(),
                                                                                     SecretStr(""))
    return AmqpEndpoint(
        host=p["uof_host"], port=int(p.get("uof_port", "5671")), tls=p.get("uof_tls", "true") == "true",
        vhost=p.get("uof_vhost", "/"), username=username, password=password, exchange=UOF_EXCHANGE,
        exchange_passive=True, bindings=tuple(_csv(p.get("uof_bindings")) or ["#"]),
        # A durable named queue: what is published while we are disconnected waits for us.
        # Unused for an hour (we are gone for good), the broker drops it rather than fill up.
        queue=p.get("uof_queue", "sportsflow.uof"), durable=True, expires_s=3600,
    )


def uof_feeds(settings: ProviderSettings, publisher: RawPublisher, monitor: HealthMonitor) -> list[PushFeed]:
    """The AMQP consumer and its session: producers, alive and recovery through the UOF REST API."""
    token = settings.client_secret or settings.api_key or SecretStr("")
    api = httpx.AsyncClient(base_url=settings.params.get("uof_api_url", UOF_API_URL).rstrip("/"), timeout=10.0)
    holder: list[AmqpConsumer] = []
    producers = [int(p) for p in _csv(settings.params.get("uof_producers")) or ["1", "3"]]
    def headers() -> dict[str, str]:
        return {"x-access-token": token.get_secret_value()}

    session = UofSession(api, producers, monitor, headers=headers,
                         sessions=lambda: holder[0].sessions if holder else 0)
    handler = UofHandler(session, fixtures=FixtureCache(api, headers, lang=settings.params.get("lang", "en")))
    consumer = AmqpConsumer(PROVIDER, "uof", uof_endpoint(settings), handler, publisher=publisher,
                            monitor=monitor, expected_beat_s=UOF_ALIVE_S)
    holder.append(consumer)
    return [consumer, session]


def parse_routing_key(routing_key: str) -> tuple[str, str | None]:
    """(message type, event URN or None): `hi.-.live.odds_change.1.sr:match.123.-` -> odds_change, sr:match:123."""
    parts = routing_key.split(".")
    kind = parts[3] if len(parts) > 3 else "unknown"
    if len(parts) > 6 and parts[5] != "-" and parts[6] != "-":
        return kind, f"{parts[5]}:{parts[6]}"
    return kind, None


class UofHandler:
    """One UOF delivery -> one raw XML record keyed by event URN; `alive` -> heartbeat only.

    With a `UofSession`, every message's type and root attributes also go to it (producer state,
    last processed timestamp, `snapshot_complete`); `snapshot_complete` is the session's alone.
    """

    def __init__(self, session: UofSession | None = None, capacity: int = 10_000,
                 fixtures: FixtureCache | None = None) -> None:
        self.session, self.fixtures = session, fixtures
        # The last odds_change per event (bounded): a bet_stop carries it, so its markets can be suspended.
        self.last_odds: OrderedDict[str, str] = OrderedDict()
        self.capacity = capacity

    def handle(self, delivery: Delivery) -> Handled:
        text = delivery.body.decode("utf-8", errors="replace")
        kind, urn = parse_routing_key(delivery.routing_key)
        attrs = _root_attrs(text) if self.session is not None or kind == "alive" else {}
        if self.session is not None:
            self.session.observe(kind, attrs)
        if kind == "alive":
            if attrs.get("subscribed") == "0":
                return Handled(heartbeat=True, down_reason=f"producer {attrs.get('product', '?')} reports "
                                                           "subscribed=0: recovery needed")
            return Handled(heartbeat=True)
        if kind == "snapshot_complete":
            return Handled(heartbeat=True)
        key = urn or attrs.get("event_id") or _root_attrs(text).get("event_id") or kind
        params = {"routing_key": delivery.routing_key}
        if kind == "odds_change":
            self.last_odds[key] = text
            self.last_odds.move_to_end(key)
            while len(self.last_odds) > self.capacity:
                self.last_odds.popitem(last=False)
        elif kind == "bet_stop" and key in self.last_odds:
            params[LAST_ODDS_PARAM] = self.last_odds[key]
        envelope = RawEnvelope(provider=PROVIDER, feed="uof", key=key, params=params,
                               received_at=delivery.received_at, content_type="xml", payload=text)
        return Handled(envelopes=[envelope])


    async def enrich(self, envelopes: list[RawEnvelope]) -> list[RawEnvelope]:
        """UOF messages name no teams, sport or start time: add the event's fixture (cached) as params,
        so its odds join the canonical event; a fixture_change fetches it anew."""
        if self.fixtures is None:
            return envelopes
        out = []
        for raw in envelopes:
            fixture = None
            if raw.key.startswith("sr:"):
                if raw.params.get("routing_key", "").split(".")[3:4] == ["fixture_change"]:
                    self.fixtures.forget(raw.key)
                fixture = await self.fixtures.get(raw.key)
            out.append(raw if fixture is None else raw.model_copy(update={"params": {**raw.params, **fixture}}))
        return out


def _root_attrs(text: str) -> dict[str, str]:
    try:
        return dict(fromstring(text, forbid_dtd=True).attrib)
    except (ParseError, DefusedXmlException, ValueError):
        return {}


# --- HTTP push streams ---------------------------------------------------------------------------


class SeenEvents:
    """The events a stream delivered lately (bounded): what to re-read from REST after a reconnect."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> None:
        self._items[event_id] = None
        self._items.move_to_end(event_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __iter__(self) -> Any:
        return iter(list(self._items))


def stream_parser(sport: str, seen: SeenEvents) -> Callable[[Any], StreamLine]:
    slug = "soccer-summary" if sport == "soccer" else "nba-summary"

    def parse(line: Any) -> StreamLine:
        if not isinstance(line, dict):
            return StreamLine()
        if "heartbeat" in line:
            return StreamLine(heartbeat=True)
        payload = line.get("payload")
        if not isinstance(payload, dict):
            return StreamLine()
        whole = payload if sport == "soccer" else payload.get("game")
        key = _urn(whole) if sport == "soccer" else (str(whole["id"]) if isinstance(whole, dict) and "id" in whole
                                                     else None)
        complete = isinstance(whole, dict) and key is not None and (
            "sport_event_status" in whole if sport == "soccer" else "status" in whole)
        if not complete or key is None:
            return StreamLine(heartbeat=True)  # a play-by-play fragment: the feed is alive, nothing to publish
        seen.add(key)
        return StreamLine(envelopes=[RawEnvelope(provider=PROVIDER, feed=slug, key=key, params={"source": "push"},
                                                 received_at=utc_now(), payload=whole)])

    return parse


def push_stream(
    provider: Sportradar, sport: str, settings: ProviderSettings, *, publisher: RawPublisher,
    monitor: HealthMonitor, client: httpx.AsyncClient,
) -> HttpPushStream:
    p = settings.params
    access = p.get("access_level", "trial")
    path = f"{p.get('push_base_url', '').rstrip('/')}/{sport}/{access}/stream/events/subscribe"
    seen = SeenEvents()
    summary = "soccer-summary" if sport == "soccer" else "nba-summary"

    def summary_feed(event_id: str) -> FeedRequest:
        if sport == "soccer":
            return FeedRequest(PROVIDER, summary, f"{summary}:{event_id}",
                               f"/soccer/{access}/v4/{p.get('lang', 'en')}/sport_events/{event_id}/summary.json")
        return FeedRequest(PROVIDER, summary, f"{summary}:{event_id}",
                           f"/nba/{access}/v8/{p.get('lang', 'en')}/games/{event_id}/summary.json")

    async def catch_up() -> None:
        state = ProviderState()
        pollers = [FeedPoller(provider, summary_feed(e), settings=settings, client=client, publisher=publisher,
                              state=state) for e in seen]
        # Failures are the poller's ProviderError; one bad summary must not stop the others.
        await asyncio.gather(*(poller.poll_once() for poller in pollers), return_exceptions=True)

    def headers() -> dict[str, str]:
        return provider.auth(settings)[0]

    return HttpPushStream(PROVIDER, f"push:{sport}", client, path, headers=headers, parse=stream_parser(sport, seen),
                          publisher=publisher, monitor=monitor, catch_up=catch_up)


CONNECTOR = Sportradar()
