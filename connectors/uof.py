"""Sportradar UOF session state, kept the way Sportradar's SDK keeps it: producers, `alive`, recovery.

- Each producer (1 = live odds, 3 = prematch) is up or down with a reason. It is down at start, after 20 s
  without an `alive` (UOF's documented limit), on `alive subscribed="0"`, and whenever the consumer
  reconnects (messages may have been missed).
- A down producer gets a recovery request through the REST API,
  `POST /v1/{product}/recovery/initiate_request?after=<ms>&request_id=<n>` with `after` = the timestamp of
  the last message processed from it (none on the very first start: the current state is sent), and is up
  only once the `snapshot_complete` with that `request_id` arrives. A request the API refuses is retried
  on the next check.
- `sessions()` counts the AMQP sessions the consumer opened: each new one (a reconnect) puts every
  producer down and recovers it.
- `observe()` is pure bookkeeping on one message's type and root attributes (called by `UofHandler` for
  every delivery); `run(stop)` does the I/O: the 20 s check and the recovery requests.

Health: one feed per producer, `uof:<product>` (e.g. `uof:liveodds`), down with the reason until recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.health import HealthMonitor

log = logging.getLogger(__name__)

PROVIDER = "sportradar"
ALIVE_TIMEOUT_S = 20.0
# Producer id -> the product name of its REST paths (UOF docs, "producers": 1 LO liveodds, 3 Ctrl pre).
PRODUCTS: Mapping[int, str] = {1: "liveodds", 3: "pre", 4: "betpal", 5: "premium_cricket", 6: "vf"}


@dataclass
class Producer:
    id: int
    up: bool = False
    reason: str = "not recovered yet"
    last_alive: float | None = None  # monotonic seconds
    last_processed_ms: int | None = None  # the newest message timestamp processed from this producer
    pending: int | None = None  # the request_id of the recovery in flight
    needs_recovery: bool = True

    @property
    def product(self) -> str:
        return PRODUCTS.get(self.id, str(self.id))


class UofSession:
    def __init__(
        self, client: httpx.AsyncClient, producers: Sequence[int], monitor: HealthMonitor, *,
        headers: Callable[[], dict[str, str]] = dict, sessions: Callable[[], int] = lambda: 1,
        clock: Callable[[], float] = time.monotonic, alive_timeout_s: float = ALIVE_TIMEOUT_S, node_id: int = 1,
    ) -> None:
        self.client, self.monitor, self.headers, self.sessions = client, monitor, headers, sessions
        self.provider, self.feed = PROVIDER, "uof:recovery"
        self.clock, self.alive_timeout_s, self.node_id = clock, alive_timeout_s, node_id
        self.producers = {p: Producer(p) for p in producers}
        self._ids = itertools.count(int(time.time()) % 1_000_000 * 100)
        self._wake = asyncio.Event()
        self._seen_sessions = 0
        self.requests: list[tuple[int, int | None, int]] = []  # (producer, after, request_id), for operators
        for producer in self.producers.values():
            monitor.register(PROVIDER, self.feed_of(producer), alive_timeout_s)

    @staticmethod
    def feed_of(producer: Producer) -> str:
        return f"uof:{producer.product}"

    def observe(self, kind: str, attrs: Mapping[str, str]) -> None:
        """One message's type and root attributes."""
        producer = self.producers.get(_int(attrs.get("product")) or -1)
        if producer is None:
            return
        if kind == "alive":
            producer.last_alive = self.clock()
            if attrs.get("subscribed") == "0":
                self._down(producer, "alive subscribed=0: the producer lost our subscription")
            elif not producer.up and producer.pending is None:
                self._wake.set()  # alive again after a gap: recover
            return
        if kind == "snapshot_complete":
            if producer.pending is not None and _int(attrs.get("request_id")) == producer.pending:
                producer.pending, producer.up, producer.reason = None, True, ""
                producer.last_alive = producer.last_alive or self.clock()
                self.monitor.beat(PROVIDER, self.feed_of(producer))
                log.info("uof: producer %s is up (recovery %s complete)", producer.product, attrs.get("request_id"))
            return
        stamp = _int(attrs.get("timestamp"))
        if stamp is not None and (producer.last_processed_ms is None or stamp > producer.last_processed_ms):
            producer.last_processed_ms = stamp

    def reconnected(self) -> None:
        """The AMQP connection was (re)established: anything may have been missed meanwhile."""
        for producer in self.producers.values():
            self._down(producer, "connection (re)established: recovering")

    def check(self) -> None:
        """Producers silent for more than 20 s are down."""
        now = self.clock()
        for producer in self.producers.values():
            if producer.up and (producer.last_alive is None or now - producer.last_alive > self.alive_timeout_s):
                self._down(producer, f"no alive for more than {self.alive_timeout_s:.0f}s")

    async def run(self, stop: asyncio.Event, check_s: float = 1.0) -> None:
        while not stop.is_set():
            sessions = self.sessions()  # AMQP sessions opened so far: a new one means we were disconnected
            connected = sessions > 0
            if sessions != self._seen_sessions:
                self._seen_sessions = sessions
                self.reconnected()
            self.check()
            if connected:
                for producer in self.producers.values():
                    if producer.needs_recovery and producer.pending is None:
                        await self.recover(producer)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop.wait(), self._wake.wait()), timeout=check_s)

    async def recover(self, producer: Producer) -> None:
        request_id = next(self._ids)
        params = {"request_id": str(request_id), "node_id": str(self.node_id)}
        if producer.last_processed_ms is not None:
            params["after"] = str(producer.last_processed_ms)
        producer.pending = request_id
        try:
            response = await self.client.post(f"/v1/{producer.product}/recovery/initiate_request", params=params,
                                              headers=self.headers())
        except httpx.HTTPError as exc:
            producer.pending = None
            log.warning("uof: recovery request for %s failed (%s); retrying", producer.product, type(exc).__name__)
            return
        if response.status_code >= 400:
            producer.pending = None
            log.warning("uof: recovery request for %s refused (HTTP %d); retrying", producer.product,
                        response.status_code)
            return
        producer.needs_recovery = False
        self.requests.append((producer.id, producer.last_processed_ms, request_id))
        log.info("uof: recovery %d requested for %s after %s", request_id, producer.product,
                 producer.last_processed_ms)

    def _down(self, producer: Producer, reason: str) -> None:
        producer.up, producer.reason, producer.needs_recovery, producer.pending = False, reason, True, None
        self.monitor.down(PROVIDER, self.feed_of(producer), reason)
        self._wake.set()


async def _first(*waits: object) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# Fixture `sport` names (UOF sports list) -> canonical sport values the normalizer takes.
SPORT_NAMES: Mapping[str, str] = {
    "soccer": "soccer", "basketball": "basketball", "tennis": "tennis", "ice hockey": "icehockey",
    "american football": "americanfootball", "baseball": "baseball", "handball": "handball",
    "volleyball": "volleyball", "cricket": "cricket", "rugby": "rugby",
}
FIXTURE_FAILURE_TTL_S = 60.0


class FixtureCache:
    """UOF fixtures from `GET /v1/sports/{lang}/sport_events/{urn}/fixture.xml`, cached per event (bounded).

    `get()` answers the normalizer's fixture params (`sport`, `league`, `home_team`, `away_team`,
    `start_time`) or None when the fixture cannot be had; a failed fetch is not retried for a minute, so
    a fixture endpoint outage costs one request per event per minute, not one per message. `forget()` on
    `fixture_change`: the next `get()` fetches it again.
    """

    def __init__(self, client: httpx.AsyncClient, headers: Callable[[], dict[str, str]] = dict, *,
                 lang: str = "en", capacity: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.headers, self.lang, self.capacity, self.clock = client, headers, lang, capacity, clock
        self._items: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._failed: dict[str, float] = {}
        self.fetches = 0

    def forget(self, urn: str) -> None:
        self._items.pop(urn, None)
        self._failed.pop(urn, None)

    async def get(self, urn: str) -> dict[str, str] | None:
        if urn in self._items:
            self._items.move_to_end(urn)
            return self._items[urn]
        if self.clock() - self._failed.get(urn, -FIXTURE_FAILURE_TTL_S) < FIXTURE_FAILURE_TTL_S:
            return None
        self.fetches += 1
        try:
            response = await self.client.get(f"/v1/sports/{self.lang}/sport_events/{urn}/fixture.xml",
                                             headers=self.headers())
            fixture = parse_fixture(response.text) if response.status_code == 200 else None
        except httpx.HTTPError:
            fixture = None
        if fixture is None:
            self._failed[urn] = self.clock()
            log.warning("uof: no fixture for %s", urn)
            return None
        self._items[urn] = fixture
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return fixture


def parse_fixture(text: str) -> dict[str, str] | None:
    """`<fixtures_fixture><fixture start_time=...><tournament name=...><sport name=.../></tournament>
    <competitors><competitor qualifier="home" name=.../>...` -> the normalizer's fixture params."""
    try:
        root = fromstring(text, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    fixture = root if root.tag == "fixture" else root.find("fixture")
    if fixture is None:
        return None
    tournament = fixture.find("tournament")
    sport = tournament.find("sport") if tournament is not None else None
    sides = {c.get("qualifier"): c.get("name") for c in fixture.findall("competitors/competitor")}
    params = {
        "start_time": fixture.get("start_time") or fixture.get("scheduled") or "",
        "league": tournament.get("name", "") if tournament is not None else "",
        "sport": SPORT_NAMES.get((sport.get("name", "") if sport is not None else "").lower(), "other"),
        "home_team": sides.get("home") or "", "away_team": sides.get("away") or "",
    }
    return params if all(params.values()) else None
