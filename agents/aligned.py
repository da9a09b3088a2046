"""Stage 1's read order across raw partitions: by record time, also while catching up (pure, no Kafka).

Each raw topic (one per provider) is read at its own speed: after a restart, one provider's backlog
can come back whole before another's records of the same minutes. Stage 2 versions each fixture in
the order its candidates arrive, so a fixture served by several providers would then be
replayed in one provider's steps, and the states the others served in between come out "behind"
(lost to consumers). Kafka Streams meets the same problem by picking the record with the lowest
timestamp across a task's partitions and waiting for an empty partition that still has data on the
broker (`max.task.idle.ms`); `Aligned` does that for a consumer's batches:

- `add()` buffers each partition's fetched records and remembers its *frontier*: the newest record
  time fetched from it so far.
- `release(behind, polled)` hands out, merged by record time, every buffered record not newer than the
  oldest frontier among the partitions that are `behind` (records on the broker not fetched yet):
  whatever such a partition delivers next is at least that new.
- A partition read to its end is only known to be at its end as of its last fetch response
  (`polled`: when the broker built it, on the record clock, `agents/fetch_clock.py`). A record
  appended after that response is not seen yet, so records newer than that moment wait for the next
  response. Seen without this: a stage 1 whose view of one raw partition was 600 ms old released
  another provider's newer score first; the older one then came "behind" and was never published.
  One fetch request covers every partition of a broker, so in a live worker the response that
  brought a record also vouches for the others up to that record's time, and the record goes at once.
- When nothing could be released for `max_hold_s` (a partition that stays behind without delivering),
  everything buffered goes anyway, and `on_expire` is told which partitions were waited for: order
  gives way to progress, visibly. It must not give way to a merely slow catch-up: after a crash or
  a broker restart, a loaded worker (2 cores shared with Kafka and two busy processes) took 2.7 s
  for one round of fetches of a 24 s backlog, and a 2 s hold then let STATSCORE's and API-Sports'
  newer scores overtake The Odds API's: up to 449 states lost per loaded accuracy run (BENCHMARKS.md). The
  worker's hold is `processing.order_hold_s` (10 s).

Record times are the broker's append times (raw topics use `message.timestamp.type=LogAppendTime`,
`pipeline/provision.py`): monotonic per partition, and a record appended after a fetch response was
built carries a later time than anything that response returned. Producer times (when a connector
called `send`) were not enough: a connector's record still in flight could be appended after another
provider's newer record had been released, so the worker and a later replay (which merges the raw
topics by record time) saw two providers' updates of one game in different orders: the large accuracy
runs' replays re-published 2 to 163 records that way (BENCHMARKS.md). Equal times are released in
(topic, partition, offset) order, as the replay merges them.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any


class Aligned:
    """Buffered records of several partitions, released in record-time order (records need `.timestamp`
    and `.offset`; partitions are keyed by something ordered, such as a TopicPartition)."""

    def __init__(self, max_hold_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 on_expire: Callable[[list[Hashable], float], None] | None = None) -> None:
        self.max_hold_s = max_hold_s
        self._clock = clock
        self._on_expire = on_expire  # (the partitions waited for, seconds held)
        self._buffers: dict[Hashable, deque[Any]] = {}
        self._frontier: dict[Hashable, int] = {}
        self._held_since: float | None = None

    def __len__(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def buffered(self, tp: Hashable) -> int:
        return len(self._buffers.get(tp, ()))

    def add(self, batches: Mapping[Hashable, Sequence[Any]]) -> None:
        for tp, records in batches.items():
            if not records:
                continue
            self._buffers.setdefault(tp, deque()).extend(records)
            newest = max(int(r.timestamp) for r in records)
            self._frontier[tp] = max(self._frontier.get(tp, newest), newest)
        if self._held_since is None and self._buffers:
            self._held_since = self._clock()

    def release(self, behind: Iterable[Hashable], polled: Mapping[Hashable, int] | None = None) -> list[Any]:
        """The records that can go now, oldest first (each partition's own order kept).

        `polled`: for partitions read to their end, when their last fetch response came (ms). What such a
        partition delivers next is newer than that, or than its frontier (for a partition not fetched
        meanwhile, such as a paused one, its buffered records come first).
        """
        behind = list(behind)
        bounds = [self._frontier.get(tp, -1) for tp in behind]
        bounds += [max(at, self._frontier.get(tp, -1)) for tp, at in (polled or {}).items()]
        bound = min(bounds, default=None)
        held_s = self._clock() - self._held_since if self._held_since is not None else 0.0
        if bound is not None and held_s > self.max_hold_s:
            if self._on_expire is not None:
                self._on_expire(self._waited_for(behind, polled or {}, bound), held_s)
            bound = None  # held too long: let everything go
        ready: list[list[tuple[int, Any, int, Any]]] = []
        for tp, buffer in self._buffers.items():
            taken = []
            while buffer and (bound is None or int(buffer[0].timestamp) <= bound):
                record = buffer.popleft()
                taken.append((int(record.timestamp), tp, record.offset, record))
            if taken:
                ready.append(taken)
        self._buffers = {tp: b for tp, b in self._buffers.items() if b}
        self._held_since = None if not self._buffers else (self._clock() if ready else self._held_since)
        # Equal times go by (topic, partition, offset), as a replay merges them (pipeline/replay/source.py).
        return [record for *_, record in heapq.merge(*ready)]

    def _waited_for(self, behind: list[Hashable], polled: Mapping[Hashable, int], bound: int) -> list[Hashable]:
        """The partitions whose bound held the others back."""
        return [tp for tp in behind if self._frontier.get(tp, -1) == bound] + [
            tp for tp, at in polled.items() if max(at, self._frontier.get(tp, -1)) == bound]

    def drop(self, tps: Iterable[Hashable]) -> None:
        """Forget partitions (revoked): their records are read again from the last commit by their owner."""
        for tp in tps:
            self._buffers.pop(tp, None)
            self._frontier.pop(tp, None)
        if not self._buffers:
            self._held_since = None

