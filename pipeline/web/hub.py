"""Fan-out of canonical records to WebSocket clients, without I/O (the server drives it).

Each record is encoded once into a frame; each client has a bounded, conflating outbox:
a newer frame for the same entity replaces the pending one (for conflating channels), and a
client whose outbox still overflows is marked slow and dropped by the server. A slow client
never delays the others: the hub only ever appends to outboxes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.topics import CHANNEL_BY_TOPIC

CONFLATING_CHANNELS = frozenset({"live_scores", "betting_odds", "feed_status"})


@dataclass(frozen=True, slots=True)
class Item:
    """One canonical record as the hub sees it: routing attributes and its encoded frame."""

    channel: str
    key: str
    frame: str
    sport: str | None
    league: str | None
    event_id: str | None
    bookmaker: str | None


@dataclass(frozen=True)
class Filters:
    sports: frozenset[str] = frozenset()
    leagues: frozenset[str] = frozenset()
    event_ids: frozenset[str] = frozenset()
    bookmakers: frozenset[str] = frozenset()

    def match(self, item: Item) -> bool:
        return (
            (not self.sports or item.sport in self.sports)
            and (not self.leagues or item.league in self.leagues)
            and (not self.event_ids or item.event_id in self.event_ids)
            and (not self.bookmakers or item.bookmaker is None or item.bookmaker in self.bookmakers)
        )


def make_item(topic: str, key: bytes | None, value: bytes) -> Item:
    """Encode once: the frame is the record itself plus its channel (a superset of SportsEvent)."""
    channel = CHANNEL_BY_TOPIC[topic]
    record: dict[str, Any] = orjson.loads(value)
    frame = '{"channel":"' + channel + '",' + value.decode()[1:]
    event_id = record.get("eventId") or (record.get("id") if record.get("type") == "event" else None)
    entity = key.decode() if key else str(record.get("id", ""))
    return Item(channel, entity, frame, record.get("sport"), record.get("league"), event_id, record.get("bookmaker"))


@dataclass(eq=False)
class ClientQueue:
    """A client's subscriptions and its bounded outbox."""

    limit: int
    channels: set[str] = field(default_factory=set)
    filters: Filters = field(default_factory=Filters)
    allowed: frozenset[str] = frozenset(CHANNEL_BY_TOPIC.values())
    outbox: OrderedDict[str, str] = field(default_factory=OrderedDict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    slow: bool = False
    conflated: int = 0
    _serial: int = 0

    def offer(self, item: Item) -> None:
        if self.slow:
            return
        if item.channel in CONFLATING_CHANNELS:
            slot = f"{item.channel}|{item.key}"
            if slot in self.outbox:
                self.conflated += 1
                del self.outbox[slot]  # the newer state goes to the back, in arrival order
        else:
            self._serial += 1
            slot = f"{item.channel}|{item.key}|{self._serial}"
        self.outbox[slot] = item.frame
        if len(self.outbox) > self.limit:
            self.slow = True
        self.wake.set()

    def send_now(self, frame: str) -> None:
        """Control frames (acks, errors) bypass conflation."""
        self._serial += 1
        self.outbox[f"control|{self._serial}"] = frame
        self.wake.set()

    def drain(self, max_items: int = 64) -> list[str]:
        frames: list[str] = []
        while self.outbox and len(frames) < max_items:
            frames.append(self.outbox.popitem(last=False)[1])
        if not self.outbox:
            self.wake.clear()
        return frames


class Hub:
    def __init__(self) -> None:
        self.clients: set[ClientQueue] = set()
        self.by_channel: dict[str, set[ClientQueue]] = {c: set() for c in CHANNEL_BY_TOPIC.values()}
        # Latest frame per entity per channel: the snapshot a new subscriber receives.
        self.state: dict[str, dict[str, Item]] = {c: {} for c in CHANNEL_BY_TOPIC.values()}
        self.published = 0

    def attach(self, client: ClientQueue) -> None:
        self.clients.add(client)

    def detach(self, client: ClientQueue) -> None:
        self.clients.discard(client)
        for members in self.by_channel.values():
            members.discard(client)

    def subscribe(self, client: ClientQueue, channels: Iterable[str], filters: Filters) -> list[str]:
        """Subscribe and queue the snapshot of matching entities; returns the channels granted."""
        granted = [c for c in channels if c in self.by_channel and c in client.allowed]
        client.filters = filters
        for channel in granted:
            if channel not in client.channels:
                client.channels.add(channel)
                self.by_channel[channel].add(client)
            for item in self.state[channel].values():
                if filters.match(item):
                    client.offer(item)
        return granted

    def unsubscribe(self, client: ClientQueue, channels: Iterable[str]) -> None:
        for channel in channels:
            client.channels.discard(channel)
            self.by_channel.get(channel, set()).discard(client)

    def publish(self, item: Item) -> None:
        self.published += 1
        self.state[item.channel][item.key] = item
        for client in self.by_channel[item.channel]:
            if client.filters.match(item):
                client.offer(item)
