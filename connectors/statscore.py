"""STATSCORE LiveScore API v2: OAuth token, polled `events`, pushed `incidents` (RabbitMQ).

- Auth: `GET /v2/oauth?client_id=&secret_key=` answers `{"api": {"data": {"token", "token_expiration"}}}`
  (expiry in epoch seconds, at most 24 h ahead); every request then carries `?token=`. `TokenCache` fetches
  the first token before polling starts and refreshes it in the background `refresh_margin_s` before it
  expires, so `auth()` only reads the cached token and a poll never waits for (or races) a refresh.
- `events`: `GET /v2/events` with the `events_*` params (e.g. `PARAMS__EVENTS_STATUS_TYPE=live`), one raw
  record per response (the normalizer walks competitions -> seasons -> stages -> groups -> events).
- `incidents`: STATSCORE pushes one JSON message per incident to a queue of its own per client (credentials
  and vhost issued by STATSCORE). Each message becomes one raw record keyed by its event id. The queue has
  no heartbeat messages, so an open, idle connection counts as healthy.

Settings `SPORTSFLOW_PROVIDERS__STATSCORE__...`: `CLIENT_ID`, `CLIENT_SECRET` (the OAuth secret key),
`API_KEY` (the AMQP password), `BASE_URL`, `FEEDS`, `PARAMS__EVENTS_*`, `PARAMS__AMQP_HOST`, `..._AMQP_PORT`,
`..._AMQP_TLS`, `..._AMQP_VHOST`, `..._AMQP_USERNAME`, `..._AMQP_QUEUE`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from connectors.amqp import AmqpConsumer, AmqpEndpoint, Delivery, Handled
from connectors.base import FeedRequest, HttpProvider
from connectors.errors import ProviderError
from connectors.health import HealthMonitor
from connectors.poller import REFUSED_RETRY_S
from connectors.publisher import RawPublisher
from connectors.push_stream import PushFeed
from runtime.backoff import Backoff
from runtime.settings import ProviderSettings
from schemas.envelope import RawEnvelope

log = logging.getLogger(__name__)

PROVIDER = "statscore"


@dataclass(frozen=True, slots=True)
class Token:
    value: SecretStr
    expires_at: float  # epoch seconds


TokenFetcher = Callable[[], Awaitable[Token]]


class TokenCache:
    """The current OAuth token, renewed `refresh_margin_s` before expiry by `run()`.

    `run()` is cancel-safe; a failed refresh is retried with backoff while the old token is still valid.
    """

    provider = PROVIDER
    feed = "oauth"

    def __init__(
        self, fetch: TokenFetcher, *, refresh_margin_s: float = 600.0, clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None, monitor: HealthMonitor | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._fetch, self.refresh_margin_s, self._clock = fetch, refresh_margin_s, clock
        self._sleep = sleep
        self.monitor = monitor
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.token: Token | None = None
        self.refreshes = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def current(self) -> str | None:
        """The token if it is still valid, else None (never blocks)."""
        token = self.token
        if token is None or token.expires_at <= self._clock():
            return None
        return token.value.get_secret_value()

    def refresh_due_in_s(self) -> float:
        if self.token is None:
            return 0.0
        return max(0.0, self.token.expires_at - self.refresh_margin_s - self._clock())

    def expire(self) -> None:
        """The provider refused the token: refresh at once."""
        if self.token is not None:
            self.token = Token(self.token.value, min(self.token.expires_at, self._clock() + self.refresh_margin_s))
        self._wake.set()

    async def refresh(self) -> None:
        async with self._lock:
            self.token = await self._fetch()
            self.refreshes += 1
            if self.monitor is not None:
                self.monitor.beat(PROVIDER, self.feed)

    async def ensure(self) -> None:
        if self.current() is None:
            await self.refresh()

    async def run(self, stop: asyncio.Event) -> None:
        if self.monitor is not None:
            self.monitor.register(PROVIDER, self.feed, max(60.0, self.refresh_margin_s))
        while not stop.is_set():
            await self._wait(self.refresh_due_in_s(), stop)
            if stop.is_set():
                return
            try:
                await self.refresh()
                self.backoff.reset()
            except ProviderError as exc:
                if self.monitor is not None:
                    self.monitor.failure(PROVIDER, self.feed, exc.reason)
                # A refused client secret will not be accepted a second later: ask again on a slow schedule.
                delay = self.backoff.next_delay() if exc.retriable else max(self.backoff.cap_s, REFUSED_RETRY_S)
                if not exc.retriable:
                    log.error("%s; asking for a token again in %.0fs", exc, delay)  # noqa: TRY400 - no traceback to add
                await self._wait(delay, stop)

    async def _wait(self, seconds: float, stop: asyncio.Event) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        self._wake.clear()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()


def oauth_fetcher(client: httpx.AsyncClient, settings: ProviderSettings) -> TokenFetcher:
    async def fetch() -> Token:
        secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
        params = {"client_id": settings.client_id or "", "secret_key": secret}
        try:
            response = await client.get("/v2/oauth", params=params)
        except httpx.HTTPError as exc:  # the text may contain the URL with the secret: keep only the type
            raise ProviderError(PROVIDER, "oauth", f"token request failed ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise ProviderError(PROVIDER, "oauth", "token refused", status=response.status_code,
                                retriable=response.status_code >= 500 or response.status_code == 429)
        try:
            data = orjson.loads(response.content)["api"]["data"]
            return Token(SecretStr(str(data["token"])), float(data["token_expiration"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ProviderError(PROVIDER, "oauth", "malformed token response", status=response.status_code) from None

    return fetch


class Statscore(HttpProvider):
    name = PROVIDER
    default_base_url = "https://api.statscore.com"
    min_interval_s = 2.0

    def __init__(self) -> None:
        self._tokens: dict[str, TokenCache] = {}

    def token_cache(self, settings: ProviderSettings, client: httpx.AsyncClient | None = None,
                    monitor: HealthMonitor | None = None) -> TokenCache:
        """One cache per client id, shared by every feed of this process."""
        key = settings.client_id or ""
        cache = self._tokens.get(key)
        if cache is None:
            if client is None:
                raise RuntimeError("statscore: the token cache is created by prepare() before polling")
            cache = self._tokens[key] = TokenCache(oauth_fetcher(client, settings), monitor=monitor)
        return cache

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        wanted = settings.feeds or ["events"]
        if "events" not in wanted:
            return []
        params = {k.removeprefix("events_"): v for k, v in settings.params.items() if k.startswith("events_")}
        return [FeedRequest(PROVIDER, "events", "events", "/v2/events", params or {"status_type": "live"},
                            live_interval_s=5.0, idle_interval_s=60.0)]

    def reference_feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        """`/v2/participants` with the `participants_*` params (default `sport_id=5`, soccer, teams only);
        `PARAMS__PARTICIPANTS_SPORT` names the canonical sport of that list."""
        p = settings.params
        params = {k.removeprefix("participants_"): v for k, v in p.items()
                  if k.startswith("participants_") and k != "participants_sport"}
        sport = p.get("participants_sport", "soccer")
        return [self.reference_feed(sport, "/v2/participants", sport, params or {"sport_id": "5", "type": "team"})]

    def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
        cache = self._tokens.get(settings.client_id or "")
        token = cache.current() if cache is not None else None
        return {}, {"token": token or ""}

    def unauthorized(self, feed: FeedRequest) -> bool:
        """HTTP 401 on a data request: the token expired early or was revoked; refresh it now."""
        for cache in self._tokens.values():
            cache.expire()
        return True

    def check(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> None:
        error = payload.get("api", {}).get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            status = int(error.get("status", 400)) if str(error.get("status", "")).isdigit() else 400
            if status == 401:  # token refused (revoked, clock skew): have the refresher renew it now
                for cache in self._tokens.values():
                    cache.expire()
            raise ProviderError(PROVIDER, feed.name, f"provider error: {str(error.get('message', ''))[:200]}",
                                status=status, retriable=status >= 500 or status in (401, 429))

    def is_live(self, feed: FeedRequest, payload: Any) -> bool:
        return b'"status_type":"live"' in orjson.dumps(payload) if isinstance(payload, dict) else False

    async def prepare(self, settings: ProviderSettings, client: httpx.AsyncClient, monitor: HealthMonitor) -> None:
        """Fetch the first token before any poll."""
        await self.token_cache(settings, client, monitor).ensure()

    def push_feeds(
        self, settings: ProviderSettings, publisher: RawPublisher, monitor: HealthMonitor, client: httpx.AsyncClient,
    ) -> list[PushFeed]:
        feeds: list[PushFeed] = [self.token_cache(settings, client, monitor)]
        p = settings.params
        if p.get("amqp_host") and p.get("amqp_queue"):
            endpoint = AmqpEndpoint(
                host=p["amqp_host"], port=int(p.get("amqp_port", "5672")), tls=p.get("amqp_tls", "false") == "true",
                vhost=p.get("amqp_vhost", "/"), username=p.get("amqp_username", "guest"),
                password=settings.api_key or SecretStr(""), exchange=None, queue=p["amqp_queue"], queue_passive=True,
            )
            feeds.append(AmqpConsumer(PROVIDER, "incidents", endpoint, IncidentHandler(), publisher=publisher,
                                      monitor=monitor, expected_beat_s=30.0, idle_beats=True))
        return feeds


class IncidentHandler:
    """One pushed message -> one `incidents` record keyed by the event id it carries."""

    def handle(self, delivery: Delivery) -> Handled:
        try:
            payload: Any = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            payload = delivery.body.decode("utf-8", errors="replace")  # published so the DLQ records why
        event = payload.get("data", {}).get("event") if isinstance(payload, dict) else None
        key = str(event["id"]) if isinstance(event, dict) and "id" in event else f"message:{delivery.routing_key}"
        return Handled(envelopes=[RawEnvelope(provider=PROVIDER, feed="incidents", key=key, params={},
                                              received_at=delivery.received_at, payload=payload)])


CONNECTOR = Statscore()
