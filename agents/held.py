"""Stage 2's processed resolve records sent together, one batch in the air at a time, acked when it lands.

A resolve record's outputs must be acked by Kafka, and then its state written, before Faust may
commit past it. Done per record and waited for, that is a produce request for the outputs, one per
changelog partition and the round trip for their acks: ~1.2 ms of the worker's CPU per record
(BENCHMARKS.md), and the agent idle meanwhile while the next records wait behind it. So:

- records already waiting in the agent's queue (the worker is behind) are processed first, and their
  outputs go in one send;
- a send does not wait for its acks: the batch is *in the air* and the agent goes on with the next
  records. When the batch lands (acked), its state is written and its records are acked to Faust,
  and whatever was processed meanwhile goes up as the next batch. One batch in the air at a time, so
  batches grow while Kafka is slow to ack and shrink to one record when it is quick: no timer on the
  latency path, and states are written and records acked in the order they were processed.

Bounded: while `full()` (records or candidates held) the agent waits for the batch in the air to land.

The acks are taken from Faust (`stream.enable_acks = False`, as Faust's own `take()` does) and given
after the landing. One trap: on a rebalance or a stop, Faust clears the agent queues and then waits
until every record it handed out was acked (`Consumer.wait_empty`). An agent that held records and
went back to Faust for the next one would wait on an empty queue, each waiting for the other. So
the table manager calls `release_soon()` when partitions are revoked (agents/recovery.py): it
sends what is held, after the record in hand if there is one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agents import guard

log = logging.getLogger(__name__)
MAX_RECORDS = 64  # Faust's stream buffer for the agent holds 64 (pipeline/faust_config.py)
MAX_CANDIDATES = 256  # ~45 ms of stage 2's work at ~170 µs a candidate

# Sends the held records' outputs (acks not awaited) and takes their state writes; returns the landing:
# it waits for the acks, then writes the state.
Send = Callable[[], Awaitable[Callable[[], Awaitable[None]]]]


class Held:
    """Resolve records processed whose outputs and state are not out yet: sent together, acked on landing.

    The agent takes `lock` for each record (processing, then `release` or not); a landing and
    `release_soon` take it too, so nothing is sent while a record is half processed.
    """

    def __init__(self, send: Send, ack: Callable[[Any], Awaitable[Any]],
                 max_records: int = MAX_RECORDS, max_candidates: int = MAX_CANDIDATES) -> None:
        self.lock = asyncio.Lock()
        self._send = send
        self._ack = ack
        self._max_records = max_records
        self._max_candidates = max_candidates
        self._events: list[Any] = []
        self._candidates = 0
        self._flight: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: Any, candidates: int) -> None:
        """A record whose outputs and state were handed to the publisher and the deferred state."""
        self._events.append(event)
        self._candidates += candidates

    def full(self) -> bool:
        return len(self._events) >= self._max_records or self._candidates >= self._max_candidates

    def in_the_air(self) -> bool:
        return self._flight is not None and not self._flight.done()

    async def release(self) -> None:
        """Send what is held, unless a batch is in the air: its landing sends them. The caller holds `lock`."""
        if not self._events or self.in_the_air():
            return
        events, self._events, self._candidates = self._events, [], 0
        land = await self._send()
        self._flight = asyncio.ensure_future(self._land(land, events))

    async def room(self) -> None:
        """Wait (not holding `lock`) while the held records are at their bound and a batch is in the air."""
        while self.full() and self._flight is not None and not self._flight.done():
            await asyncio.shield(self._flight)

    async def landed(self) -> None:
        """Wait until nothing is in the air (the tests: the worker lets Faust wait for the acks)."""
        while self._flight is not None and not self._flight.done():
            await asyncio.shield(self._flight)

    async def _land(self, land: Callable[[], Awaitable[None]], events: list[Any]) -> None:
        try:
            await land()  # a failed delivery has stopped the worker: no state, no ack
            for event in events:
                await self._ack(event)
            async with self.lock:
                self._flight = None
                await self.release()  # what was processed while this batch was in the air
        except Exception as exc:  # a bug: the records would never be acked, and Faust would wait for them
            log.exception("stage 2 could not land a batch")
            guard.fatal(f"stage 2 could not land a batch: {exc!r}")

    def release_soon(self) -> None:
        """Send what is held as soon as no record is in hand (called when partitions are revoked)."""
        task = asyncio.ensure_future(self._release_locked())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release_locked(self) -> None:
        async with self.lock:
            await self.release()
