"""A worker that stops making progress exits instead, so its supervisor starts a fresh one.

Two ways stage 2 was seen to stop for good while the process stayed up:

- after a broker restart, Faust's offset commit waited forever in the producer flush it does
  before committing (an aiokafka batch future that never resolved): records were processed and
  published, nothing was committed, and SIGTERM then hung on the same flush;
- after a rebalance, a table partition's changelog recovery waited for records that never came.

Both leave the offsets uncommitted, so exiting is safe: the next worker reads again from the last
commit (at-least-once; outputs are idempotent by entity key and version). `Liveness.check` runs
on a timer and calls `guard.fatal` (exit code 70) when the commit in flight is older than
`commit_timeout_s`, or when recovery has had records left to read and read none of them for
`recovery_stall_s`. `BoundedStopWorker` bounds a stop: once SIGTERM or SIGINT arrived, the
process exits after `STOP_DEADLINE_S` whatever it is waiting for.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

import faust

from agents import guard

log = logging.getLogger(__name__)
STOP_DEADLINE_S = 15.0
EXIT_STOP_TIMEOUT = 71


class InOrder:
    """Checks that stage 2 reads each resolve partition without a hole; a hole stops the worker.

    Faust's consumer was seen skipping the records at a partition's committed offset (after a
    restart, a rebalance or a broker restart, see agents/recovery.py), and its commit then passes
    them. Per consumer generation, the first record of a partition must be at the offset Faust
    committed (seeked to) and each next one right after the last. A later one means records were
    skipped: the worker stops before acking it, so the next one reads again from the commit.
    Records deleted by retention are no hole. An earlier one (read again after a seek back, while
    later ones may still wait in the stream's queue) is not processed again: this worker applied
    it to its tables in this generation, and processing old records again between newer ones is
    how one version was seen published with two contents.
    """

    def __init__(self) -> None:
        self.generation: int | None = None
        self.next: dict[int, int] = {}
        self.moved: dict[int, float] = {}  # when a partition last delivered a record (or was sought)
        self.since = 0.0  # when this generation was first seen

    def _generation(self, generation: int, now: float) -> None:
        if generation != self.generation:
            self.generation, self.next, self.moved, self.since = generation, {}, {}, now

    async def check(self, consumer: Any, generation: int, tp: Any, offset: int) -> bool:
        """True when the record is to be processed; False when this worker already did in this generation."""
        self._generation(generation, time.monotonic())
        self.moved[tp.partition] = time.monotonic()
        want = self.next.get(tp.partition)
        if want is None:
            want = consumer._committed_offset.get(tp)  # where Faust seeked it (None: nothing committed)
        if want is not None and offset > want:
            earliest = (await consumer.earliest_offsets(tp)).get(tp)
            if earliest is None or earliest <= want:
                guard.fatal(f"{tp.topic}[{tp.partition}]: record {offset} arrived while {want} was next; "
                            f"records were skipped, reading again from the last commit")
            log.warning("%s[%d]: records %d-%d were deleted before they were read", tp.topic, tp.partition,
                        want, offset - 1)
        if want is not None and offset < want and tp.partition in self.next:
            return False  # read again after a seek back: its outcome is in the tables already
        self.next[tp.partition] = max(offset + 1, want or 0)
        return True

    async def kick_idle(self, consumer: Any, generation: int, assigned: set[Any], idle_s: float) -> list[Any]:
        """Seek again the partitions that have records waiting but delivered none for `idle_s`.

        After a start or a rebalance, Faust's fetch of a partition was seen to stay idle with
        records waiting (30 s and more, until the next restart): the stall watchdog in
        `guard.watchdog` cannot see it, as a partition never fetched has no known highwater.
        Its end offset is asked for here; a seek to the next offset starts the fetch again.
        """
        now = time.monotonic()
        self._generation(generation, now)
        if not assigned:
            return []
        ends = await consumer.highwaters(*assigned)
        kicked = []
        for tp in assigned:
            want = self.next.get(tp.partition, consumer._committed_offset.get(tp))
            end = ends.get(tp)
            if want is None or end is None or end <= want:
                continue  # nothing waiting (or nothing known to compare)
            if now - self.moved.get(tp.partition, self.since) >= idle_s:
                log.warning("%s[%d]: %d records waiting and none delivered for %.0fs: seeking to %d again",
                            tp.topic, tp.partition, end - want, now - self.moved.get(tp.partition, self.since), want)
                await consumer.seek(tp, want)
                self.moved[tp.partition] = now
                kicked.append(tp)
        return kicked


class Liveness:
    """Remembers since when the current commit and the recovery's remaining count last moved."""

    def __init__(self, commit_timeout_s: float, recovery_stall_s: float) -> None:
        self.commit_timeout_s = commit_timeout_s
        self.recovery_stall_s = recovery_stall_s
        self._commit: tuple[int, float] | None = None  # (id of the commit future, first seen)
        self._recovery: tuple[int, float] | None = None  # (records left, since when)

    def stuck(self, commit_future: object | None, in_recovery: bool, remaining: int,
              now: float) -> str | None:
        """Why the worker must stop (None while it moves)."""
        if commit_future is None:
            self._commit = None
        elif self._commit is None or self._commit[0] != id(commit_future):
            self._commit = (id(commit_future), now)
        elif now - self._commit[1] > self.commit_timeout_s:
            return f"an offset commit has waited {now - self._commit[1]:.0f}s (the producer flush before it)"
        if not in_recovery or remaining <= 0:
            self._recovery = None
        elif self._recovery is None or remaining < self._recovery[0]:
            self._recovery = (remaining, now)
        elif now - self._recovery[1] > self.recovery_stall_s:
            return (f"table recovery has read nothing of its {remaining} remaining changelog records "
                    f"for {now - self._recovery[1]:.0f}s")
        return None

    def check(self, app: Any) -> None:
        recovery = app.tables.recovery
        reason = self.stuck(getattr(app.consumer, "_commit_fut", None), bool(recovery.in_recovery),
                            int(recovery.active_remaining_total()) if recovery.in_recovery else 0,
                            time.monotonic())
        if reason is not None:
            guard.fatal(reason)


def _exit_after(deadline_s: float) -> None:
    time.sleep(deadline_s)
    log.critical("the worker did not stop within %.0fs of the signal: exiting", deadline_s)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_STOP_TIMEOUT)


class BoundedStopWorker(faust.Worker):
    """`faust worker` whose stop on SIGTERM/SIGINT takes at most `STOP_DEADLINE_S`.

    Faust stops the consumer (a last commit, with its producer flush) and flushes the producer
    before the process ends; either can wait forever on a broker that lost a batch. Whatever is
    not committed by then is read again by the next worker.
    """

    def _on_sigterm(self) -> None:
        self._arm_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm_deadline()
        super()._on_sigint()

    def _arm_deadline(self) -> None:
        if not getattr(self, "_deadline_armed", False):
            self._deadline_armed = True
            threading.Thread(target=_exit_after, args=(STOP_DEADLINE_S,), daemon=True,
                             name="stop-deadline").start()
