"""Fan-out of canonical records to WebSocket clients, without I/O (the server drives it).

Each record is encoded once into a frame (`protocol.make_item`); the same bytes go to every
client. Per client there is a bounded outbox: for conflating channels a newer frame of an entity
replaces its pending one. The server flushes outboxes after every record; a client whose outbox
still holds more than its bound after that is slow, and the server drops it.
The hub only ever appends to outboxes, so a slow client never delays the others.

The hub also keeps, per channel, the latest record of every entity (the snapshot for new
subscribers; a record of the same epoch whose seq is not newer is a redelivery and is dropped; one
of another epoch — a new lineage, a backfill — is delivered once, and becomes the snapshot only if
its record time is newer), and a ring of
recent records per topic-partition for resumes. Subscriptions are indexed by event id, so a
record costs work proportional to the clients that want it, not to all clients.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from sinks.websocket.protocol import CHANNELS, Filters, Item
from sinks.websocket.resume import PartitionRing, ResumePlan, plan_by_cursor, plan_by_seq


def _nothing() -> None:
    return None


# What one queued frame costs beyond its bytes: the bytes object's header and the outbox's entry
# (key, hash-table slot, ordering links). Measured with tracemalloc on CPython 3.11: ~110-150 B.
FRAME_OVERHEAD = 160


class ClientQueue:
    """A client's subscriptions (filters per channel) and its bounded, conflating outbox.

    Two bounds: live frames beyond `limit` (after conflation; snapshot, replay and control frames
    are not "falling behind") and, over every queued frame whatever its kind, `max_bytes` of
    memory (`queued_bytes`: each frame's length plus `FRAME_OVERHEAD`). Either makes it slow.
    """

    def __init__(self, limit: int, allowed: Iterable[str] = CHANNELS,
                 on_ready: Callable[[], None] = _nothing, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.allowed = frozenset(allowed)
        self.on_ready = on_ready  # called after frames were queued (the server flushes)
        self.subs: dict[str, Filters] = {}
        self.outbox: OrderedDict[str | int, bytes] = OrderedDict()
        self.queued_bytes = 0
        self.allowance = 0  # snapshot/replay/control frames still queued, not counted against `limit`
        self.skip: dict[str, int] = {}
        self.slow = False
        self.conflated = 0
        self._serial = 0

    def __len__(self) -> int:
        return len(self.outbox)

    def _put(self, slot: str | int, frame: bytes) -> None:
        old = self.outbox.pop(slot, None)
        if old is not None:  # the newer state goes to the back, in arrival order
            self.queued_bytes -= len(old) + FRAME_OVERHEAD
        self.outbox[slot] = frame
        self.queued_bytes += len(frame) + FRAME_OVERHEAD

    def offer(self, item: Item) -> None:
        """Queue a live frame; conflate it for state channels; mark the client slow on overflow."""
        if self.slow or (self.skip and item.offset <= self.skip.get(item.tp, -1)):
            return
        if item.conflates:
            if item.slot in self.outbox:
                self.conflated += 1
            self._put(item.slot, item.frame)
        else:
            self._serial += 1
            self._put(self._serial, item.frame)

    def offer_backlog(self, items: Iterable[Item], *, conflate: bool) -> int:
        """Queue snapshot (`conflate=True`) or replay frames; they do not count as falling behind."""
        count = 0
        for item in items:
            if self.slow:
                break
            if conflate and item.conflates:
                self._put(item.slot, item.frame)
            else:
                self._serial += 1
                self._put(self._serial, item.frame)
            count += 1
            if self.queued_bytes > self.max_bytes:
                self.slow = True  # a snapshot bigger than the budget: stop copying it now
        self.allowance += count
        return count

    def check_slow(self) -> bool:
        """After the server took what the socket accepts: is the outbox still over a bound?"""
        if len(self.outbox) > self.limit + self.allowance or self.queued_bytes > self.max_bytes:
            self.slow = True
        return self.slow

    def send_now(self, frame: bytes) -> None:
        """Queue a control frame (acks, markers): never conflated, counted in bytes, not as falling behind."""
        self._serial += 1
        self._put(self._serial, frame)
        self.allowance += 1

    def pop(self) -> bytes | None:
        if not self.outbox:
            return None
        if self.allowance:
            self.allowance -= 1
        frame = self.outbox.popitem(last=False)[1]
        self.queued_bytes -= len(frame) + FRAME_OVERHEAD
        return frame

    def discard(self) -> None:
        self.outbox.clear()
        self.queued_bytes = 0
        self.allowance = 0


class Hub:
    def __init__(self, *, ring_size: int = 10_000, entity_ttl_s: float = 6 * 3600.0) -> None:
        self.ring_size = ring_size
        self.entity_ttl_ms = int(entity_ttl_s * 1000)
        self.clients: set[ClientQueue] = set()
        # Subscribers per channel: without an event filter (unfiltered, filtered), and by event id.
        self.everything: dict[str, set[ClientQueue]] = {c: set() for c in CHANNELS}
        self.broad: dict[str, set[ClientQueue]] = {c: set() for c in CHANNELS}
        self.by_event: dict[str, dict[str, set[ClientQueue]]] = {c: {} for c in CHANNELS}
        # Latest record per entity per channel (the snapshot), also indexed by event id.
        self.state: dict[str, dict[str, Item]] = {c: {} for c in CHANNELS}
        # The last version delivered of another lineage than the snapshot's (a backfill): (epoch, seq).
        self.side: dict[str, dict[str, tuple[int, int]]] = {c: {} for c in CHANNELS}
        self.state_by_event: dict[str, dict[str, dict[str, Item]]] = {c: {} for c in CHANNELS}
        self.rings: dict[str, PartitionRing] = {}
        self.dirty: set[ClientQueue] = set()
        self.published = 0
        self.duplicates = 0
        self.dropped_slow = 0
        self.resumed = {"recovered": 0, "unrecovered": 0}
        self._conflated_gone = 0

    # -- clients -------------------------------------------------------------------------------

    def attach(self, client: ClientQueue) -> None:
        self.clients.add(client)

    def detach(self, client: ClientQueue) -> None:
        """Forget a client and free its outbox now (not at the next full GC: its server may be a cycle)."""
        if client in self.clients:
            self.clients.discard(client)
            self.unsubscribe(client, list(client.subs))
            self.dirty.discard(client)
            self._conflated_gone += client.conflated
            if client.slow:
                self.dropped_slow += 1
        client.discard()
        client.on_ready = _nothing  # drop the reference back to the server's session

    def _index(self, client: ClientQueue, channel: str, filters: Filters | None) -> None:
        old = client.subs.pop(channel, None)
        if old is not None:
            self.everything[channel].discard(client)
            self.broad[channel].discard(client)
            for event_id in old.event_ids:
                members = self.by_event[channel].get(event_id)
                if members is not None:
                    members.discard(client)
                    if not members:
                        del self.by_event[channel][event_id]
        if filters is None:
            return
        client.subs[channel] = filters
        if filters.empty:
            self.everything[channel].add(client)
        elif not filters.event_ids:
            self.broad[channel].add(client)
        for event_id in filters.event_ids:
            self.by_event[channel].setdefault(event_id, set()).add(client)

    def matching(self, channel: str, filters: Filters) -> Iterator[Item]:
        """The current state of the entities of `channel` that `filters` selects."""
        if filters.event_ids:
            by_event = self.state_by_event[channel]
            for event_id in filters.event_ids:
                yield from (item for item in by_event.get(event_id, {}).values() if filters.match(item))
        else:
            yield from (item for item in self.state[channel].values() if filters.match(item))

    def subscribe(self, client: ClientQueue, channels: Iterable[str], filters: Filters) -> int:
        """Subscribe (or re-filter) and queue the snapshot of matching entities; returns its size."""
        queued = 0
        for channel in channels:
            if channel not in client.allowed:
                raise PermissionError(f"token does not grant channel {channel}")
            self._index(client, channel, filters)
            queued += client.offer_backlog(self.matching(channel, filters), conflate=True)
        self.dirty.add(client)
        return queued

    def unsubscribe(self, client: ClientQueue, channels: Iterable[str]) -> None:
        for channel in channels:
            self._index(client, channel, None)

    def plan_resume(self, client: ClientQueue, channels: Iterable[str], filters: Filters,
                    cursor: Mapping[str, int] | None, last_seq: Mapping[str, int] | None) -> ResumePlan:
        """What a reconnecting client missed, if the rings reach back far enough (queues nothing)."""
        wanted = dict.fromkeys(channels, filters)
        for channel in wanted:
            if channel not in client.allowed:
                raise PermissionError(f"token does not grant channel {channel}")
        rings = [ring for ring in self.rings.values() if ring.channel in wanted]
        if cursor is not None:
            plan = plan_by_cursor(rings, wanted, cursor, last_seq)
        else:
            plan = plan_by_seq(rings, wanted, last_seq or {}, lambda channel: self.matching(channel, filters))
        self.resumed["recovered" if plan.recovered else "unrecovered"] += 1
        return plan

    def resume(self, client: ClientQueue, channels: Iterable[str], filters: Filters, plan: ResumePlan) -> int:
        """Subscribe without a snapshot and queue a recovered plan's frames; returns how many."""
        assert plan.recovered
        for channel in channels:
            self._index(client, channel, filters)
        client.skip.update(plan.skip)
        self.dirty.add(client)
        return client.offer_backlog(plan.items, conflate=False)

    def cursor(self, channels: Iterable[str]) -> dict[str, int]:
        """The last offset this hub has read, per topic-partition of `channels`."""
        wanted = set(channels)
        return {tp: ring.position for tp, ring in self.rings.items() if ring.channel in wanted}

    # -- records -------------------------------------------------------------------------------

    def track(self, tp: str, channel: str, start: int) -> None:
        """The feed starts reading partition `tp` at offset `start`."""
        self.rings[tp] = PartitionRing(tp, channel, self.ring_size, start)

    def publish(self, item: Item) -> bool:
        """Record and fan out one record; False if it is a redelivery (seq not newer)."""
        ring = self.rings.get(item.tp)
        if ring is None:
            ring = self.rings[item.tp] = PartitionRing(item.tp, item.channel, self.ring_size, item.offset)
        channel = item.channel
        current = self.state[channel].get(item.key)
        side = self.side[channel].get(item.key)
        if (current is not None and item.epoch == current.epoch and item.seq <= current.seq
                and item.ts_ms - current.ts_ms < self.entity_ttl_ms) \
                or (side is not None and side[0] == item.epoch and item.seq <= side[1]):
            ring.note(item.offset)
            self.duplicates += 1
            return False
        if current is None or item.supersedes(current):
            self.state[channel][item.key] = item
            self.side[channel].pop(item.key, None)
            if item.event_id is not None:
                self.state_by_event[channel].setdefault(item.event_id, {})[item.key] = item
        else:  # history of another lineage: must not conflate away (or replace) a pending newer frame
            self.side[channel][item.key] = (item.epoch, item.seq)
            item = replace(item, slot=f"{item.slot}|{item.epoch}")
        ring.append(item)
        self.published += 1
        dirty = self.dirty
        for client in self.everything[channel]:
            client.offer(item)
            dirty.add(client)
        for client in self.broad[channel]:
            if client.subs[channel].match(item):
                client.offer(item)
                dirty.add(client)
        if item.event_id is not None:
            for client in self.by_event[channel].get(item.event_id, ()):
                if client.subs[channel].match(item):
                    client.offer(item)
                    dirty.add(client)
        # Flush per record, not per Kafka batch: only frames the socket could not take are conflated.
        self.flush()
        return True

    def note_unreadable(self, tp: str, offset: int) -> None:
        ring = self.rings.get(tp)
        if ring is not None:
            ring.note(offset)

    def flush(self) -> None:
        """Tell every client with newly queued frames (the server writes them out)."""
        dirty, self.dirty = self.dirty, set()
        for client in dirty:
            client.on_ready()

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring (exported by the metrics module)."""
        return {
            "clients": len(self.clients),
            "subscriptions": {c: sum(1 for client in self.clients if c in client.subs) for c in sorted(CHANNELS)},
            "published": self.published,
            "duplicates": self.duplicates,
            "conflated": self._conflated_gone + sum(client.conflated for client in self.clients),
            "dropped_slow": self.dropped_slow,
            "queued_bytes": sum(client.queued_bytes for client in self.clients),
            "resumes": dict(self.resumed),
            "entities": sum(len(entities) for entities in self.state.values()),
        }
