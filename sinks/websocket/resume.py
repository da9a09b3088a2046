"""Resume after reconnect, without I/O: a bounded ring of recent frames per topic-partition.

A ring knows the offset from which it holds *every* accepted record of its partition
(`complete_from`: the consumer's start position, then one past the last evicted record). A client
that last saw offset `c` of a partition can be served exactly what it missed iff `c + 1 >=
complete_from`; otherwise the answer is an explicit `recovered: false` and a fresh snapshot,
never a silent gap. Records dropped as duplicates (seq not newer) are not in the ring; they
are not missing either, since the client already had them.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sinks.websocket.protocol import Filters, Item


class PartitionRing:
    """The last `capacity` accepted records of one topic-partition, in offset order."""

    def __init__(self, tp: str, channel: str, capacity: int, start: int) -> None:
        self.tp = tp
        self.channel = channel
        self.capacity = max(1, capacity)
        self.complete_from = start  # every accepted record at an offset >= this is held here
        self.position = start - 1  # the last offset seen (accepted or not)
        self._items: list[Item] = []
        self._offsets: list[int] = []
        self._head = 0  # evicted entries before this index are trimmed lazily (amortized O(1))

    def __len__(self) -> int:
        return len(self._items) - self._head

    def note(self, offset: int) -> None:
        """An offset was read but not kept (duplicate or unreadable record)."""
        self.position = max(self.position, offset)

    def append(self, item: Item) -> None:
        self._items.append(item)
        self._offsets.append(item.offset)
        self.position = max(self.position, item.offset)
        if len(self) > self.capacity:
            self.complete_from = self._offsets[self._head] + 1
            self._head += 1
            if self._head >= self.capacity:
                del self._items[: self._head]
                del self._offsets[: self._head]
                self._head = 0

    def covers(self, last_seen: int) -> bool:
        """Can everything after offset `last_seen` be replayed from here?"""
        return last_seen + 1 >= self.complete_from

    def after(self, last_seen: int) -> list[Item]:
        start = bisect_right(self._offsets, last_seen, lo=self._head)
        return self._items[start:]

    def items(self) -> list[Item]:
        return self._items[self._head :]


@dataclass
class ResumePlan:
    """What a resuming client gets: replayed frames in order, or `recovered=False`."""

    recovered: bool
    items: list[Item] = field(default_factory=list)
    # Partitions where the client is ahead of this process (it came from a faster one):
    # later records up to these offsets are skipped for it.
    skip: dict[str, int] = field(default_factory=dict)


def _in_order(lists: Iterable[list[Item]]) -> list[Item]:
    """Merge per-partition lists (each in offset order) by Kafka timestamp, stable per partition."""
    return list(heapq.merge(*lists, key=lambda item: item.ts_ms))


def plan_by_cursor(rings: Iterable[PartitionRing], filters: Mapping[str, Filters], cursor: Mapping[str, int],
                   last_seq: Mapping[str, int] | None = None) -> ResumePlan:
    """Replay every matching record after the client's offsets, for the partitions of its channels."""
    per_partition: list[list[Item]] = []
    skip: dict[str, int] = {}
    for ring in rings:
        wanted = filters.get(ring.channel)
        if wanted is None:
            continue
        seen = cursor.get(ring.tp)
        if seen is None or not ring.covers(seen):
            return ResumePlan(recovered=False)
        if seen > ring.position:
            skip[ring.tp] = seen
            continue
        per_partition.append([
            item for item in ring.after(seen)
            if wanted.match(item) and (last_seq is None or item.seq > last_seq.get(item.key, -1))
        ])
    return ResumePlan(recovered=True, items=_in_order(per_partition), skip=skip)


def plan_by_seq(rings: Iterable[PartitionRing], filters: Mapping[str, Filters], last_seq: Mapping[str, int],
                current: Callable[[str], Iterable[Item]]) -> ResumePlan:
    """Replay, per entity, the versions after the client's last seq (seqs are consecutive per entity).

    `current(channel)` yields the latest state of the entities matching the client's filters. An
    entity the client does not name counts from seq 0: it is new to the client, and all of its
    versions must still be in the ring. Costs a scan of the rings; prefer `cursor` at scale.
    """
    missed: dict[str, list[Item]] = {}
    rings = list(rings)
    for ring in rings:
        wanted = filters.get(ring.channel)
        if wanted is None:
            continue
        for item in ring.items():
            if item.seq > last_seq.get(item.key, 0) and wanted.match(item):
                missed.setdefault(item.key, []).append(item)
    for channel in filters:
        for latest in current(channel):
            have = last_seq.get(latest.key, 0)
            if latest.seq <= have:
                continue
            versions = [item.seq for item in missed.get(latest.key, [])]
            if versions != list(range(have + 1, latest.seq + 1)):
                return ResumePlan(recovered=False)
    by_partition: dict[str, list[Item]] = {}
    for items in missed.values():
        for item in items:
            by_partition.setdefault(item.tp, []).append(item)
    return ResumePlan(recovered=True,
                      items=_in_order(sorted(items, key=lambda i: i.offset) for items in by_partition.values()))
