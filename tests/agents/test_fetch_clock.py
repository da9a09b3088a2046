"""The moment a fetch response vouches for its partitions (`agents.fetch_clock`): when the request went
out, or the newest append time it carries, never later than its arrival; errors vouch for nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from agents.fetch_clock import FETCH_API_KEY, FetchClock, Vouched, _TimedClient


def batch(*times: int) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                       producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for offset, at in enumerate(times):
        builder.append(offset, timestamp=at, key=b"k", value=b"v", headers=[])
    return bytes(builder.build())


@dataclass
class Response:
    topics: list[tuple[str, list[tuple[Any, ...]]]]


@dataclass
class Request:
    API_KEY: int


class Client:
    def __init__(self, response: Any, clock: list[float], took_s: float) -> None:
        self.response, self.clock, self.took_s = response, clock, took_s
        self.sent: list[Any] = []
        self.other = "reached"

    async def send(self, node_id: int, request: Any) -> Any:
        self.sent.append(request)
        self.clock[0] += self.took_s  # the broker held the request (long poll), then answered
        return self.response


async def fetched(response: Any, *, sent_s: float, took_s: float) -> FetchClock:
    now = [sent_s]
    clock = FetchClock(clock=lambda: now[0])
    client = _TimedClient(Client(response, now, took_s), clock)
    assert await client.send(1, Request(FETCH_API_KEY)) is response
    return clock


async def test_a_response_vouches_for_every_partition_up_to_its_newest_append_time() -> None:
    # Sent at 1,000 ms, answered 500 ms later; X got a record appended at 1,200, Y nothing new.
    response = Response([("raw.x", [(0, 0, 5, -1, None, batch(1_100, 1_200))]),
                         ("raw.y", [(0, 0, 9, -1, None, b"")])])
    clock = await fetched(response, sent_s=1.0, took_s=0.5)
    assert clock.vouched == {TopicPartition("raw.x", 0): Vouched(5, 1_200),
                             TopicPartition("raw.y", 0): Vouched(9, 1_200)}


async def test_an_empty_response_vouches_from_when_it_was_asked_not_when_it_arrived() -> None:
    # aiokafka's last_poll_timestamp would say 1,500: a record appended at 1,300 would be overtaken.
    response = Response([("raw.x", [(0, 0, 5, -1, None, b"")])])
    clock = await fetched(response, sent_s=1.0, took_s=0.5)
    assert clock.vouched == {TopicPartition("raw.x", 0): Vouched(5, 1_000)}


async def test_a_producer_stamped_future_time_is_not_believed_past_the_arrival() -> None:
    response = Response([("raw.x", [(0, 0, 5, -1, None, batch(9_999_999))])])
    clock = await fetched(response, sent_s=1.0, took_s=0.5)
    assert clock.vouched == {TopicPartition("raw.x", 0): Vouched(5, 1_500)}


async def test_a_partition_answered_with_an_error_is_not_vouched_for() -> None:
    response = Response([("raw.x", [(0, 6, -1, -1, None, b""), (1, 0, 3, -1, None, b"")])])
    clock = await fetched(response, sent_s=1.0, took_s=0.5)
    assert clock.vouched == {TopicPartition("raw.x", 1): Vouched(3, 1_000)}


async def test_other_requests_and_attributes_pass_through_untimed() -> None:
    now = [1.0]
    inner = Client(Response([("raw.x", [(0, 0, 5, -1, None, b"")])]), now, 0.5)
    clock = FetchClock(clock=lambda: now[0])
    client = _TimedClient(inner, clock)
    await client.send(1, Request(3))  # metadata
    assert clock.vouched == {}
    assert client.other == "reached"
