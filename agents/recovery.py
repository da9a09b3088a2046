"""Faust's table recovery with the stream partitions resumed only after they were seeked.

faust-streaming 0.15's `Recovery.on_recovery_completed` resumes the stream partitions, then awaits
the seek to their committed offsets, then resumes flow control, which clears every stream queue.
The consumer's fetcher runs while that seek is awaited: the records at the committed offset are
fetched and queued, then thrown away by the clear, while the consumer's read offset has moved past
them. Nothing fetches them again, and the first later record that is acked lets Faust commit past
them (its gap check counts the committed offset as read). Seen from the outside: after a worker
starts or a rebalance hands it partitions, the first resolve record of a partition is never
processed, and its updates are lost (one round of scores for every fixture of that partition).
Just after a broker restart, the committed offsets can also read as none; the position is then
left where it was, which was seen past unprocessed records: those partitions are seeked to the
last committed offset this worker knows.

`StreamSafeRecovery` does the same steps in a safe order: seek while the stream partitions are
still paused, resume flow control (the clear then holds nothing of theirs), and only then resume
the partitions. `TableManager` installs it: `faust.App(..., TableManager=TableManager)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faust.tables.manager import TableManager as FaustTableManager
from faust.tables.recovery import Recovery


class StreamSafeRecovery(Recovery):
    """`Recovery` whose completion seeks the stream partitions before it lets records flow."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        app: Any = self.app
        consumer = app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(table.on_recovery_completed(
                self.actives_for_table[table], self.standbys_for_table[table]))
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again app id %s param %s",
                             app.consumer_generation_id, generation_id)
            return
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if assignment:
            # Still paused: nothing of these partitions is fetched while the seek is awaited.
            self.log.info("Seek stream partitions to committed offsets.")
            known = {tp: consumer._committed_offset.get(tp) for tp in streams}
            await self._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
            for tp, offset in known.items():
                # Just after a broker restart the group's offsets can read as "none": perform_seek
                # then leaves the position where it was, which was seen past unprocessed records.
                if offset and consumer._read_offset.get(tp) is None:
                    self.log.warning("no committed offset read for %s: seeking to the last one known, %d",
                                     tp, offset)
                    await consumer.seek(tp, offset)
        self.completed.set()
        app.flow_control.resume()  # clears the stream queues: they hold nothing of `streams` yet
        consumer.resume_partitions(streams)
        consumer.resume_flow()
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


class TableManager(FaustTableManager):
    """Faust's table manager with `StreamSafeRecovery`, and callbacks for a revocation's first step.

    Faust calls `on_partitions_revoked` first when partitions are revoked (a rebalance or a stop), before
    it clears the agent queues and waits for every record handed out to be acked: stage 2 releases the
    records it holds there (agents/held.py).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_revoke: list[Callable[[], None]] = []

    def on_partitions_revoked(self, revoked: Any) -> None:
        super().on_partitions_revoked(revoked)
        for callback in self.on_revoke:
            callback()

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = StreamSafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
