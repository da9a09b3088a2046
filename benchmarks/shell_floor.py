"""Stand-ins for the worker's two pure stages: what its shells alone cost per update (benchmarks only).

`benchmarks/shell_floor_app.py` runs the real worker (`pipeline.app`) with these in place, and all of
it runs: stage 1's fetch loop, record-time alignment, packing, the resolve topic, Faust's consumer and
agent, the batched publisher, the deferred state and its changelog writes, the metrics. Only the two
pure functions are replaced by the least work that keeps the records flowing: stage 1 turns a raw
record into one candidate routed by its Kafka key (no envelope parse, no normalization), stage 2 turns
a candidate into one canonical record and a three-field entity state (no resolution, no decision).
The worker's CPU per update in this app against the real one splits the cost between the shells
(Kafka clients, Faust, our loops) and the stages (`benchmarks/stage_cost.py` measures the stages
without the shells).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.stages.normalize import RESOLVE, OutRecord, Processed
from agents.stages.process import StageTwoResult
from schemas import headers as h
from schemas import topics

_KEY = b'"key":"'


def stage_one(topic: str, partition: int, offset: int, value: bytes | None,
              headers: list[tuple[str, bytes]]) -> Processed:
    """One candidate per raw record: `<raw key>|<raw value>`, routed by the raw key."""
    body = value or b""
    start = body.find(_KEY) + len(_KEY)
    key = body[start:body.find(b'"', start)]
    return Processed(records=[OutRecord(RESOLVE, b"floor|" + key, key + b"|" + body, headers)])


def stage_two(route: str, value: bytes, carried: list[tuple[str, bytes]], fixtures: Any,
              entity_state: Callable[[str], Any], **_: Any) -> StageTwoResult:
    """One canonical record (the raw value, keyed by the raw key) and a small state per candidate."""
    cut = value.find(b"|")
    key = value[:cut].decode()
    entity_state(key)
    return StageTwoResult(outputs=[OutRecord(topics.EVENTS, key.encode(), value[cut + 1:], carried)],
                          entities={key: {"updated": h.now_ms(), "seq": 1, "last": None}})

