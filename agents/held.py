"""Stage 2's resolve records taken together while more are waiting: one flush and one ack for all of them.

A resolve record's outputs must be acked by Kafka, and then its state written, before Faust may
commit past it. Done per record, that is a produce request for the outputs, one per changelog
partition, and the wait for their acks: ~1.2 ms of the worker's CPU per record (BENCHMARKS.md),
the work of seven candidates at the 10-15 a record carries at 2,000 updates/s. So when records are
already waiting in the agent's queue (the worker is behind), the agent processes them first and
flushes once for all. Batches grow with the backlog and shrink to one record when the worker keeps
up: no timer on the latency path. A batch is bounded (records and candidates), so the first
record's outputs wait at most that batch's work.

The acks are taken from Faust (`stream.enable_acks = False`, as Faust's own `take()` does) and given
after the flush. One trap: on a rebalance or a stop, Faust clears the agent queues and then waits
until every record it handed out was acked (`Consumer.wait_empty`). An agent that held records and
went back to Faust for the next one would wait on an empty queue, each waiting for the other. So
the table manager calls `release_soon()` when partitions are revoked (agents/recovery.py): it
flushes and acks what is held, after the record in hand if there is one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

MAX_RECORDS = 64  # Faust's stream buffer for the agent holds 64 (pipeline/faust_config.py)
MAX_CANDIDATES = 256  # ~45 ms of stage 2's work at ~170 µs a candidate


class Held:
    """Resolve records processed whose outputs and state are not out yet, flushed and acked together.

    The agent takes `lock` for each record (processing, then `release` or not); `release_soon` takes
    it too, so a release never runs while a record is half processed.
    """

    def __init__(self, flush: Callable[[], Awaitable[None]], ack: Callable[[Any], Awaitable[Any]],
                 max_records: int = MAX_RECORDS, max_candidates: int = MAX_CANDIDATES) -> None:
        self.lock = asyncio.Lock()
        self._flush = flush
        self._ack = ack
        self._max_records = max_records
        self._max_candidates = max_candidates
        self._events: list[Any] = []
        self._candidates = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: Any, candidates: int) -> None:
        """A record whose outputs and state were handed to the publisher and the deferred state."""
        self._events.append(event)
        self._candidates += candidates

    def full(self) -> bool:
        return len(self._events) >= self._max_records or self._candidates >= self._max_candidates

    async def release(self) -> None:
        """Flush the outputs (acked) and the state, then ack the records to Faust. The caller holds `lock`."""
        await self._flush()
        events, self._events, self._candidates = self._events, [], 0
        for event in events:
            await self._ack(event)

    def release_soon(self) -> None:
        """Flush and ack what is held as soon as no record is in hand (called when partitions are revoked)."""
        task = asyncio.ensure_future(self._release_locked())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_locked(self) -> None:
        async with self.lock:
            if self._events:
                await self.release()
