"""When the broker last vouched for a raw partition: the clock stage 1's order hold reads (`agents/aligned.py`).

Raw topics stamp each record with the broker's append time (`message.timestamp.type=LogAppendTime`,
set by `pipeline/provision.py`). A fetch response then says: as the broker built it, partition X held
nothing after the offsets it returned, and whatever is appended to X later carries a later time. So
stage 1 may release other partitions' records up to the moment the response was built.

That moment is not what aiokafka remembers. Its `last_poll_timestamp` is when the consumer *processed*
the response, later on a busy event loop, and a record appended to X in between (a connector's
request still in flight) has an earlier time than records already released: the order a replay
sees (by time) and the order the worker used would differ. The moment the broker built the response is
at least the time the request was sent, and at least the newest append time the response carries. This
module gives the consumer's fetcher a client that notes both for each fetch, per partition: `vouched`,
with the highwater the same response gave (the partition is at its end as of that moment only once
the records up to that highwater are consumed; a response the fetcher discards, after a seek, then
vouches for nothing). The moment never exceeds the local time the response arrived (a
producer-stamped topic can carry any time).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException
from aiokafka.record.memory_records import MemoryRecords

FETCH_API_KEY = 1  # Kafka's Fetch request


class Vouched(NamedTuple):
    highwater: int  # the partition's end in the response
    at_ms: int  # when the broker built it (epoch ms, the record clock)


class FetchClock:
    """Per partition, the latest fetch response: its highwater, and the moment it showed the partition."""

    def __init__(self, clock: Any = time.time) -> None:
        self.vouched: dict[TopicPartition, Vouched] = {}
        self._clock = clock

    def install(self, consumer: AIOKafkaConsumer) -> None:
        """Wrap a started consumer's fetcher client (aiokafka pinned exactly: `_fetcher._client`)."""
        fetcher = consumer._fetcher
        fetcher._client = _TimedClient(fetcher._client, self)

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def record(self, sent_ms: int, response: Any) -> None:
        """Note a fetch response: each partition it answered without error is vouched for up to its moment."""
        answered = []
        newest = sent_ms
        for topic, partitions in response.topics:
            for partition, error_code, highwater, *data in partitions:
                if error_code != 0:
                    continue
                answered.append((TopicPartition(topic, partition), int(highwater)))
                newest = max(newest, _newest_append(data[-1]))
        moment = min(newest, self.now_ms())
        for tp, highwater in answered:
            self.vouched[tp] = Vouched(highwater, moment)


class _TimedClient:
    """The consumer's client for its fetcher: fetches are timed, every other call goes through untouched."""

    def __init__(self, client: Any, clock: FetchClock) -> None:
        self._client = client
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def send(self, node_id: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(request, "API_KEY", None) != FETCH_API_KEY:
            return await self._client.send(node_id, request, *args, **kwargs)
        sent_ms = self._clock.now_ms()
        response = await self._client.send(node_id, request, *args, **kwargs)
        self._clock.record(sent_ms, response)
        return response


def _newest_append(data: bytes | None) -> int:
    """The newest record time in a partition's fetched bytes (batch headers only: nothing is decoded)."""
    if not data:
        return 0
    newest = 0
    try:
        records = MemoryRecords(data)
        while records.has_next():
            batch = records.next_batch()
            if batch is None:  # a partial batch at the end of the fetch
                break
            newest = max(newest, int(getattr(batch, "max_timestamp", 0) or 0))  # legacy batches: none
    except CorruptRecordException:
        pass  # the fetcher reports it; the request's send time still holds
    return newest
